-- A left message may carry a recorded voice message (a caller's
-- voicemail): the WAV file itself, NULL for none (stored out of line by
-- TOAST, so listing the messages does not read it), and how long it plays.

ALTER TABLE left_messages ADD COLUMN audio_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE left_messages ADD COLUMN audio bytea;

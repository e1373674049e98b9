-- A left message may carry a recorded voice message (a caller's
-- voicemail): the WAV file itself, NULL for none, and how long it plays.
-- The audio is the row's last column, so listing the messages (which reads
-- only whether it is NULL) does not read it.

ALTER TABLE left_messages ADD COLUMN audio_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE left_messages ADD COLUMN audio BLOB;

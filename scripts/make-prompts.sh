#!/bin/sh
# make-prompts.sh generates contactd's default voice prompts
# (media/prompts/default/*.wav) with espeak-ng and sox: 8000 Hz, mono,
# 16-bit PCM, leading and trailing silence trimmed, gently compressed
# (espeak-ng's peaks are far above its average level) and peaks at -1 dBFS,
# which puts speech near -16 dBFS RMS. The loader in media/prompts brings
# every prompt, default or replaced, to the same level. The output is
# deterministic: the same espeak-ng and sox versions give the same bytes.
#
# Usage: scripts/make-prompts.sh [outdir]   (default media/prompts/default)
# Needs the Debian packages espeak-ng and sox (installed with apt-get when
# missing and running as root).
#
# The list below is the set of prompt names media/prompts knows; a name
# added here must be added to prompts.Names too (its test checks both).
set -eu

out=${1:-$(dirname "$0")/../media/prompts/default}
voice=${PROMPT_VOICE:-en-us}
speed=${PROMPT_SPEED:-150}

if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y espeak-ng sox
	else
		echo "make-prompts: install espeak-ng and sox (Debian: apt-get install espeak-ng sox)" >&2
		exit 1
	fi
fi

mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say() { # say NAME TEXT
	espeak-ng -v "$voice" -s "$speed" -w "$tmp/$1.raw.wav" "$2"
	# -D: no dither (deterministic); silence trims both ends; the rate
	# change uses sox's default (high quality, linear phase) filter;
	# compand lowers the peaks relative to speech.
	sox -D -V1 "$tmp/$1.raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out/$1.wav" \
		silence 1 0.01 0.3% reverse silence 1 0.01 0.3% reverse \
		compand 0.005,0.1 6:-60,-40,-30,-15,-20,-12,0,-8 -5 -90 0.005 \
		gain -n -1
	printf '%s\t%s\n' "$1" "$2" >>"$tmp/list"
}

say welcome "Thank you for calling."
say all_agents_busy "All of our agents are busy at the moment. Please stay on the line."
say you_are_next "You are next in the queue."
say you_are_number "You are number"
say in_the_queue "in the queue."
say there_are_more_than "There are more than"
say callers_ahead "callers ahead of you."
say wait_is "Your estimated wait is"
say about "about"
say less_than_a_minute "less than a minute."
say more_than_an_hour "more than an hour."
say minute "minute."
say minutes "minutes."
say for "For"
say for_option "For option"
say press "press"
say leave_message_offer "To leave a message instead of waiting, press"
say leave_message_after_tone "Please leave your message after the tone. Hang up when you are done."
say message_recorded "Thank you. Your message has been recorded."
say invalid_choice "Sorry, that is not a valid choice."
say goodbye "Thank you for calling. Goodbye."
say star "star"
say hash "hash"
say hundred "hundred"
i=0
for w in zero one two three four five six seven eight nine ten eleven twelve thirteen \
	fourteen fifteen sixteen seventeen eighteen nineteen; do
	say "$i" "$w"
	i=$((i + 1))
done
for w in twenty thirty forty fifty sixty seventy eighty ninety; do
	say "$i" "$w"
	i=$((i + 10))
done

cp "$tmp/list" "$out/TEXT.tsv"
echo "make-prompts: $(wc -l <"$tmp/list") prompts in $out ($(du -sh "$out" | cut -f1))"

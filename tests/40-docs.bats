#!/usr/bin/env bats
# Docs move with code: --help, man pages and completions name the same options.
load test_helper

# Long options --help prints, sorted.
help_opts() { "$SSED_BIN/$1" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u; }
# Long options a man page defines: the tag lines (after .TP) of OPTIONS.
man_opts() {
	awk '/^\.SH OPTIONS/ { on = 1; next } /^\.SH / { on = 0 }
		on && tag { print } { tag = on && /^\.TP/ }' "$TESTS/../man/$1.1" |
		sed 's/\\-/-/g' | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u
}
# Long options a completion file knows.
comp_opts() {
	case $2 in
	bash) grep -oE -- '--[a-z][a-z0-9-]+' "$TESTS/../completions/$1.bash" ;;
	zsh) grep -oE -- '--[a-z][a-z0-9-]+' "$TESTS/../completions/_$1" ;;
	fish) grep -oE -- '-l [a-z][a-z0-9-]+' "$TESTS/../completions/$1.fish" | sed 's/^-l /--/' ;;
	esac | sort -u
}

@test "every long option of --help is in the man page, and the reverse" {
	for t in ssed sse-pub sse-cat; do
		diff <(help_opts "$t") <(man_opts "$t") || { echo "$t: --help vs man page"; false; }
	done
}

@test "every long option of --help is in each completion file, and the reverse" {
	for t in ssed sse-pub sse-cat; do
		for sh in bash zsh fish; do
			diff <(help_opts "$t") <(comp_opts "$t" "$sh") || { echo "$t: --help vs $sh"; false; }
		done
	done
}

@test "every short option of --help is in the man page" {
	for t in ssed sse-pub sse-cat; do
		for o in $("$SSED_BIN/$t" --help | grep -oE '^  -[a-zA-Z],' | tr -d ' ,'); do
			grep -q -- "^\.BR \\\\$o " "$TESTS/../man/$t.1" || { echo "$t: $o"; false; }
		done
	done
}

@test "bash completion: options, and values for --format" {
	source "$TESTS/../completions/sse-cat.bash"
	COMP_WORDS=(sse-cat --for)
	COMP_CWORD=1
	_sse_cat
	[ "${COMPREPLY[*]}" = "--format" ]
	COMP_WORDS=(sse-cat -o '')
	COMP_CWORD=2
	_sse_cat
	[ "${COMPREPLY[*]}" = "data json raw" ]
	COMP_WORDS=(sse-cat --no)
	COMP_CWORD=1
	_sse_cat
	[ "${COMPREPLY[*]}" = "--no-reconnect" ]
}

@test "bash completion: files for --unix-socket and --publish-token-file" {
	touch "$BATS_TEST_TMPDIR/tokfile" "$BATS_TEST_TMPDIR/sockfile"
	source "$TESTS/../completions/ssed.bash"
	COMP_WORDS=(ssed --publish-token-file "$BATS_TEST_TMPDIR/tok")
	COMP_CWORD=2
	_ssed
	[ "${COMPREPLY[*]}" = "$BATS_TEST_TMPDIR/tokfile" ]
	source "$TESTS/../completions/sse-pub.bash"
	COMP_WORDS=(sse-pub -u "$BATS_TEST_TMPDIR/so")
	COMP_CWORD=2
	_sse_pub
	[ "${COMPREPLY[*]}" = "$BATS_TEST_TMPDIR/sockfile" ]
	COMP_WORDS=(sse-pub --wh)
	COMP_CWORD=1
	_sse_pub
	[ "${COMPREPLY[*]}" = "--whole" ]
}

@test "the zsh, fish and bash completion files parse" {
	command -v zsh
	command -v fish
	for f in "$TESTS"/../completions/_*; do zsh -n "$f"; done
	for f in "$TESTS"/../completions/*.fish; do fish -n "$f"; done
	for f in "$TESTS"/../completions/*.bash; do bash -n "$f"; done
}

@test "fish completion: options and values" {
	c=$TESTS/../completions
	run fish -c "source '$c/sse-cat.fish'; complete -C 'sse-cat --form'"
	[[ "$output" == "--format"* ]]
	run fish -c "source '$c/sse-cat.fish'; complete -C 'sse-cat -o '"
	[ "$(cut -f1 <<<"$output" | tr '\n' ' ')" = "data json raw " ]
	run fish -c "source '$c/ssed.fish'; complete -C 'ssed --max-s'"
	[[ "$output" == "--max-subscribers"* ]]
}

@test "README shows the two commands and the tour" {
	readme=$TESTS/../README.md
	grep -q 'make run' "$readme"
	grep -q 'make check' "$readme"
	grep -q 'broadcast?msg=' "$readme"
	grep -q 'sse-cat' "$readme"
	grep -q 'tail -f' "$readme"
}

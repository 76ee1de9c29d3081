# bash completion for sse-cat
# Words are taken from the line up to the cursor, split on blanks only, so
# that a URL keeps its colons and an option=value word stays one; the replies are
# then cut to what bash sees as the word (after its last : or =).
# __sse_topics WORD - the URLs WORD completes to when it is an http(s) URL
# ending in /events/PREFIX: one per topic a running broker lists (GET
# /topics, with SSE_TOKEN when set), asked with a 1 s limit so that the
# shell never hangs on a broker that does not answer.
__sse_topics() {
	local base prefix
	local -a auth=()
	[[ $1 =~ ^(https?://[^/?#]+(/[^?#]*)?)/events/([A-Za-z0-9._~-]*)$ ]] || return 0
	base=${BASH_REMATCH[1]} prefix=${BASH_REMATCH[3]}
	command -v curl >/dev/null 2>&1 || return 0
	[[ -n ${SSE_TOKEN-} ]] && auth=(-H "Authorization: Bearer $SSE_TOKEN")
	curl -qsf -m 1 "${auth[@]}" \
		"$base/topics?prefix=$prefix&limit=500" </dev/null 2>/dev/null |
		while read -r name _; do printf '%s\n' "$base/events/$name"; done
}
_sse_cat() {
	local line cur prev opt= pre
	local -a w r
	if [[ -n ${COMP_LINE-} ]]; then
		line=${COMP_LINE:0:COMP_POINT}
	else  # called with COMP_WORDS alone
		line="${COMP_WORDS[*]:0:COMP_CWORD+1}"
	fi
	read -a w <<<"$line"  # backslashes unescape, as the shell would
	w=("" "" "${w[@]}")
	if [[ $line == *[[:space:]] ]]; then
		cur= prev=${w[${#w[@]}-1]}
	else
		cur=${w[${#w[@]}-1]} prev=${w[${#w[@]}-2]}
	fi
	if [[ $cur == --*=* ]]; then
		opt=${cur%%=*} prev=$opt cur=${cur#*=}
	fi
	case $prev in
	-o|--format)
		r=($(compgen -W 'data json raw' -- "$cur")) ;;
	-u|--unix-socket|--cacert|--token-file|--state)
		compopt -o filenames 2>/dev/null || true
		mapfile -t r < <(compgen -f -- "$cur") ;;
	--exec)
		mapfile -t r < <(compgen -c -- "$cur") ;;
	--since)
		r=($(compgen -W 'all 10 100 90s 10m 1h 1d id:' -- "$cur")) ;;
	-n|--count|-e|--event|-t|--timeout|-W|--deadline|--last-event-id|-H|--header|--token|\
	--max-retries|--max-event-size)
		return ;;
	*)
		if [[ $cur == -* ]]; then
			r=($(compgen -W '--format --exec --count --event --timeout --deadline
				--no-reconnect --since --poll --max-retries --max-event-size --state --last-event-id
				--header --unix-socket --insecure --cacert --token --token-file
				--verbose --quiet --help --version -o -n -e -t -W -H -u -k -v -q -h -V' -- "$cur"))
		else
			mapfile -t r < <(__sse_topics "$cur")
			if ((${#r[@]} == 0)); then
				r=($(compgen -W 'http://localhost:8080/events/ https://' -- "$cur"))
				compopt -o nospace 2>/dev/null || true
			fi
		fi ;;
	esac
	[[ -n $opt ]] && cur=$opt=$cur r=("${r[@]/#/$opt=}")
	pre=${cur%"${cur##*[:=]}"}
	COMPREPLY=("${r[@]#"$pre"}")
}
complete -F _sse_cat sse-cat

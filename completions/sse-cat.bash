# bash completion for sse-cat
_sse_cat() {
	local cur prev
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	-o|--format)
		COMPREPLY=($(compgen -W 'data json raw' -- "$cur")); return ;;
	-u|--unix-socket|--cacert|--state)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-n|--count|-e|--event|-t|--timeout|-W|--deadline|--last-event-id|-H|--header|--token|\
	--max-retries|--max-event-size|--exec)
		return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W '--format --exec --count --event --timeout --deadline
			--no-reconnect --max-retries --max-event-size --state --last-event-id --header --unix-socket --insecure --cacert --token
			--verbose --quiet --help --version -o -n -e -t -W -H -u -k -v -q -h -V' -- "$cur"))
	else
		COMPREPLY=($(compgen -W 'http://localhost:8080/events/ https://' -- "$cur"))
		compopt -o nospace 2>/dev/null
	fi
}
complete -F _sse_cat sse-cat

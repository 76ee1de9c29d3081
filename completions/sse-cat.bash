# bash completion for sse-cat
_sse_cat() {
	local cur prev
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	-o|--format)
		COMPREPLY=($(compgen -W 'data json raw' -- "$cur")); return ;;
	-u|--unix-socket|--cacert|--token-file)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-n|--count|-e|--event|-t|--timeout|--last-event-id|-H|--header|--token)
		return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W '--format --count --event --timeout --no-reconnect
			--last-event-id --header --unix-socket --insecure --cacert --token --token-file
			--verbose --quiet --help --version -o -n -e -t -H -u -k -v -q -h -V' -- "$cur"))
	else
		COMPREPLY=($(compgen -W 'http://localhost:8080/events/ https://' -- "$cur"))
		compopt -o nospace 2>/dev/null
	fi
}
complete -F _sse_cat sse-cat

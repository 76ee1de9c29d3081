# bash completion for sse-pub
_sse_pub() {
	local cur prev
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	-u|--unix-socket|--cacert|--token-file)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-e|--event|-i|--id|-H|--header|--token)
		return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W '--whole --raw --event --id --header --unix-socket
			--insecure --cacert --token --token-file --verbose --quiet --help --version
			-s -e -i -H -u -k -v -q -h -V' -- "$cur"))
	else
		COMPREPLY=($(compgen -W 'http://localhost:8080/events/ https://' -- "$cur"))
		compopt -o nospace 2>/dev/null
	fi
}
complete -F _sse_pub sse-pub

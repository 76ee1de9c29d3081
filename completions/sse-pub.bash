# bash completion for sse-pub
# Words are taken from the line up to the cursor, split on blanks only, so
# that a URL keeps its colons and an option=value word stays one; the replies are
# then cut to what bash sees as the word (after its last : or =).
_sse_pub() {
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
	-u|--unix-socket|--cacert|-f|--file)
		compopt -o filenames 2>/dev/null || true
		mapfile -t r < <(compgen -f -- "$cur") ;;
	-e|--event|-i|--id|-H|--header|--token|--max-retries)
		return ;;
	*)
		if [[ $cur == -* ]]; then
			r=($(compgen -W '--whole --file --json --raw --max-retries --event --id --header
				--unix-socket --insecure --cacert --token --verbose --quiet --help --version
				-s -f -e -i -H -u -k -v -q -h -V' -- "$cur"))
		else
			r=($(compgen -W 'http://localhost:8080/events/ https://' -- "$cur"))
			compopt -o nospace 2>/dev/null || true
		fi ;;
	esac
	[[ -n $opt ]] && cur=$opt=$cur r=("${r[@]/#/$opt=}")
	pre=${cur%"${cur##*[:=]}"}
	COMPREPLY=("${r[@]#"$pre"}")
}
complete -F _sse_pub sse-pub

# bash completion for ssed
_ssed() {
	local cur prev
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	-u|--unix-socket|--store|--publish-token-file|--subscribe-token-file|--metrics-token-file|--tls-cert|--tls-key|--jwt-key-file)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-l|--listen|--tls-listen)
		COMPREPLY=($(compgen -W '127.0.0.1:8080 0.0.0.0:8080 [::]:8080 [::1]:8080' -- "$cur")); return ;;
	--allow-host|--history|--history-bytes|--history-age|--max-memory|--heartbeat|--retry|--cors|--drain|--max-body|--max-subscribers|--max-topics|--timeout|--header-timeout|--conn-memory|--threads|--delivery-threads|--publish-window)
		return ;;
	--trust-proxy)
		COMPREPLY=($(compgen -W '127.0.0.1 ::1 unix' -- "$cur")); return ;;
	--redis)
		COMPREPLY=($(compgen -W 'redis://127.0.0.1:6379 unix:///run/redis/redis-server.sock' -- "$cur")); return ;;
	--redis-password-file)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	esac
	COMPREPLY=($(compgen -W '--listen --unix-socket --history --history-bytes --history-age --max-memory --store --store-sync --heartbeat
		--retry --cors --drain --max-body --max-subscribers --max-topics --metrics-token-file --no-broadcast
		--allow-host --publish-token-file --tls-listen --tls-cert --tls-key --jwt-key-file --jwt-cookie --jwt-query
		--subscribe-token-file --timeout --header-timeout --conn-memory --threads --delivery-threads --publish-window --trust-proxy --verbose --quiet --help --version
		--redis --redis-password-file
		-l -u -v -q -h -V' -- "$cur"))
}
complete -F _ssed ssed

# Sourced by the server scripts (not run). Test servers take ports below the ephemeral range
# (32768-60999), so that no outgoing connection can take one between the check and the bind, each
# kind in its own band: RabbitMQ 10000-16999, PostgreSQL 17000-19999, redis 20000-32767 (with
# cluster buses; redis-common.sh).

# free_port LO HI: a loopback port in [LO, HI) nobody listens on (checked by binding it).
free_port() {
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import random, socket, sys
lo, hi = int(sys.argv[1]), int(sys.argv[2])
for _ in range(200):
    p = random.randrange(lo, hi)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    sys.exit(0)
sys.exit(f"no free port in [{lo}, {hi})")
EOF
}

# Run by reset.yml on each host: sh -c "<this>" reset-processes MODE VIP EXECUTABLE...
# MODE is "check" or "apply". Stops every process of this host (its own mount namespace, not a
# container's) whose executable is one of EXECUTABLE, whatever started it: TERM, then KILL after
# 10 s. Then, when VIP (address/prefix) is not empty and still on an interface here, takes it off:
# a keepalived that was KILLed leaves its addresses behind. Prints one line per change.
set -eu
mode=$1
vip=$2
shift 2
host_mnt=$(readlink /proc/1/ns/mnt)
pids=
for dir in /proc/[0-9]*; do
  exe=$(readlink "$dir/exe" 2>/dev/null) || continue
  exe=${exe% (deleted)}
  for want in "$@"; do
    if [ "$exe" = "$want" ] && [ "$(readlink "$dir/ns/mnt" 2>/dev/null)" = "$host_mnt" ]; then
      pids="$pids ${dir#/proc/}"
      echo "stop $want (pid ${dir#/proc/})"
    fi
  done
done
if [ -n "$pids" ] && [ "$mode" = apply ]; then
  kill -TERM $pids 2>/dev/null || true
  tries=0
  left=$pids
  while [ -n "$left" ] && [ $tries -lt 100 ]; do
    sleep 0.1
    tries=$((tries + 1))
    still=
    for pid in $left; do
      if [ -d "/proc/$pid" ]; then still="$still $pid"; fi
    done
    left=$still
  done
  if [ -n "$left" ]; then kill -KILL $left 2>/dev/null || true; fi
fi
if [ -n "$vip" ]; then
  for dev in $(ip -o addr show to "${vip%/*}" | awk '{ print $2 }'); do
    echo "release $vip on $dev"
    if [ "$mode" = apply ]; then ip addr del "$vip" dev "$dev"; fi
  done
fi

#!/bin/bash
# A fake of Debian's update-rc.d (defaults, enable, disable) on a fake host root (the directory
# above this file's bin/ directory): links in <root>/etc/rc?.d as the real one makes them for a
# script with Default-Start 2 3 4 5 (S01 in rc2-5.d, K01 in rc0, 1, 6.d). A file
# <root>/state/<name>/update-rc.d-fails makes it fail. Every call is appended to <root>/log.
set -u
root=${0%/bin/*}
echo "update-rc.d $*" >> "$root/log"
name=$1
action=$2
etc=$root/etc
if [ ! -f "$etc/init.d/$name" ]; then
  echo "update-rc.d: error: initscript does not exist: /etc/init.d/$name" >&2
  exit 1
fi
if [ -e "$root/state/$name/update-rc.d-fails" ]; then
  echo "update-rc.d: error: $name Default-Start contains no runlevels, aborting." >&2
  exit 1
fi
has_links() { compgen -G "$etc/rc?.d/[SK]??$name" > /dev/null; }
case $action in
  defaults)
    has_links && exit 0
    for l in 2 3 4 5; do
      mkdir -p "$etc/rc$l.d"
      ln -s "../init.d/$name" "$etc/rc$l.d/S01$name"
    done
    for l in 0 1 6; do
      mkdir -p "$etc/rc$l.d"
      ln -s "../init.d/$name" "$etc/rc$l.d/K01$name"
    done
    ;;
  enable | disable)
    if ! has_links; then
      echo "update-rc.d: error: no runlevel symlinks to modify, aborting!" >&2
      exit 1
    fi
    from=K
    to=S
    if [ "$action" = disable ]; then
      from=S
      to=K
    fi
    for l in 2 3 4 5; do
      for f in "$etc/rc$l.d/$from"??"$name"; do
        [ -L "$f" ] || continue
        b=$(basename "$f")
        mv "$f" "$etc/rc$l.d/$to${b:1}"
      done
    done
    ;;
  *)
    echo "fake update-rc.d: '$action' is not recorded" >&2
    exit 2
    ;;
esac

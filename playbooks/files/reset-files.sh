# Run by reset.yml on each host: sh -c "<this>" reset-files MODE PATH...
# MODE is "check" (say what would be done) or "apply". A PATH ending in "/" is a directory,
# removed when it is empty. Any other PATH is a file cluster.yml may have written: it is ours when
# its first line is kubeha's marker. An ours file is replaced by its newest backup that is not
# ours (the file cluster.yml replaced, kept by `backup: true`), or removed when there is none.
# Backups that are ours (earlier versions cluster.yml wrote) are removed; a file that is not ours
# is left alone. Prints one line per change; prints nothing when there is nothing to do.
set -eu
mode=$1
shift
marker='# Managed by kubeha'

ours() {
  [ -f "$1" ] && [ "$(head -c ${#marker} "$1")" = "$marker" ]
}

act() {
  echo "$*"
  if [ "$mode" = apply ]; then "$@"; fi
}

for path in "$@"; do
  case $path in
    */)
      dir=${path%/}
      if [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]; then act rmdir "$dir"; fi
      continue ;;
  esac
  original=
  # Newest first. Backups are named PATH.PID.DATE@TIME~, as Ansible's.
  for backup in $(ls -t "$path".*~ 2>/dev/null); do
    if ours "$backup"; then
      act rm -f "$backup"
    elif [ -z "$original" ]; then
      original=$backup
    fi
  done
  if ours "$path"; then
    if [ -n "$original" ]; then act mv "$original" "$path"; else act rm -f "$path"; fi
  fi
done

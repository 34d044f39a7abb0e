#!/bin/sh
# Base backups of keytask's Postgres, run by the postgres-backup service.
# Every KEYTASK_BACKUP_EVERY seconds (a day by default) it takes a compressed
# base backup, with the WAL it needs, into /backups/base/<time>/; it keeps
# KEYTASK_BACKUP_KEEP_DAYS days of base backups and of archived WAL (the
# database archives WAL into /backups/wal/ itself), so any instant since the
# oldest kept base backup can be recovered. /backups is KEYTASK_BACKUP_DIR on
# the host: put it on another disk or a network mount, never the database's.
set -eu
every=${KEYTASK_BACKUP_EVERY:-86400}
keep=${KEYTASK_BACKUP_KEEP_DAYS:-14}
mkdir -p /backups/base /backups/wal
# The database archives WAL here as the postgres user of the same image.
chown postgres:postgres /backups/wal
while :; do
  dir=/backups/base/$(date -u +%Y%m%dT%H%M%SZ)
  if pg_basebackup -h postgres -U keytask_backup -D "$dir.partial" -Ft -z -X stream --checkpoint=fast; then
    mv "$dir.partial" "$dir"
    echo "base backup $dir"
  else
    rm -rf "$dir.partial"
    echo "base backup failed; next attempt in an hour" >&2
    sleep 3600
    continue
  fi
  # Base backups past retention go; so does WAL older than the oldest kept one.
  find /backups/base -mindepth 1 -maxdepth 1 -type d -mtime +"$keep" -exec rm -rf {} +
  find /backups/wal -type f -mtime +"$((keep + 1))" -delete
  sleep "$every"
done

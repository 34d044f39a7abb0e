#!/bin/sh
# Runs once, as the image's superuser, when the postgres volume is first
# initialised. The superuser is used for nothing else: keytask_owner owns the
# database and runs migrations; keytask_app is the login of every keytask
# process and holds only keytask_writer's privileges, so no statement it runs
# can RESET ROLE into more; keytask_backup may only take base backups (see
# deploy/README.md, "Database roles").
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
	-v owner_password="$KEYTASK_OWNER_DB_PASSWORD" -v app_password="$KEYTASK_DB_PASSWORD" \
	-v backup_password="$KEYTASK_BACKUP_DB_PASSWORD" <<'SQL'
CREATE ROLE keytask_writer NOLOGIN;
CREATE ROLE keytask_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'owner_password' IN ROLE keytask_writer;
CREATE ROLE keytask_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION INHERIT PASSWORD :'app_password' IN ROLE keytask_writer;
CREATE ROLE keytask_backup LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE REPLICATION PASSWORD :'backup_password';
CREATE DATABASE keytask OWNER keytask_owner;
SQL

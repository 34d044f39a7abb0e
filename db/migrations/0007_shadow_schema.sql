-- A rebuild builds a read model's new version here, beside the live tables in
-- public, and moves the tables into public in the transaction that swaps them
-- in (projections.Rebuild), so readers never see a half-built model. The
-- writer owns it, as it owns the read models; one rebuild uses it at a time.
CREATE SCHEMA keytask_shadow AUTHORIZATION keytask_writer;

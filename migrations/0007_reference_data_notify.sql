-- Ours, additive. Tells every running instance that reference data it
-- caches has changed, whoever changed it (the service, Django admin, a later
-- migration, psql): one `NOTIFY swa_reference_data, '<table>'` per statement,
-- delivered at commit (and not at all on rollback). PostgreSQL folds
-- identical notifications of one transaction into one.
--
-- The tables are exactly those the cached responses read
-- (service/src/db/catalogue.rs, db/client_events.rs::logging_enabled); the
-- table-to-cache mapping is service/src/cache/invalidation.rs::stale_for.
-- Triggers add no column, so adopting a Django database is unaffected.

CREATE OR REPLACE FUNCTION swa_notify_reference_data() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('swa_reference_data', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'order_product',
        'order_product_sku',
        'order_product_image',
        'order_product_video',
        'order_sku',
        'order_sku_price',
        'order_sku_image',
        'order_sku_inventory',
        'clientevent_configuration'
    ] LOOP
        -- Statement level: a bulk change sends one notification, not one per row.
        EXECUTE format(
            'CREATE TRIGGER swa_reference_data_notify '
            'AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
            'FOR EACH STATEMENT EXECUTE PROCEDURE swa_notify_reference_data()',
            t);
    END LOOP;
END
$$;

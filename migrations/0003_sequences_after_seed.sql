-- 0003_sequences_after_seed.sql
--
-- Ours, not Django's (additive). Django's data migrations insert seed rows
-- with explicit ids and never advance the identity sequences, so the first
-- insert without an id would collide with a seeded row. This moves every
-- table's identity sequence past its current max(id). Written to be correct
-- on a fresh database (after 0002) and on an adopted Django database that
-- already holds real data:
--   * table with rows:  setval(seq, max(id), true)  -> next id = max(id) + 1
--   * empty table:      setval(seq, 1, false)       -> next id = 1
-- Re-running it is harmless.

SELECT setval(pg_get_serial_sequence('auth_user', 'id'),
              GREATEST((SELECT max(id) FROM auth_user), 1),
              (SELECT max(id) IS NOT NULL FROM auth_user));
SELECT setval(pg_get_serial_sequence('user_defaultshippingaddress', 'id'),
              GREATEST((SELECT max(id) FROM user_defaultshippingaddress), 1),
              (SELECT max(id) IS NOT NULL FROM user_defaultshippingaddress));
SELECT setval(pg_get_serial_sequence('user_member', 'id'),
              GREATEST((SELECT max(id) FROM user_member), 1),
              (SELECT max(id) IS NOT NULL FROM user_member));
SELECT setval(pg_get_serial_sequence('user_prospect', 'id'),
              GREATEST((SELECT max(id) FROM user_prospect), 1),
              (SELECT max(id) IS NOT NULL FROM user_prospect));
SELECT setval(pg_get_serial_sequence('user_emailunsubscribereasons', 'id'),
              GREATEST((SELECT max(id) FROM user_emailunsubscribereasons), 1),
              (SELECT max(id) IS NOT NULL FROM user_emailunsubscribereasons));
SELECT setval(pg_get_serial_sequence('user_terms_of_use_version', 'id'),
              GREATEST((SELECT max(id) FROM user_terms_of_use_version), 1),
              (SELECT max(id) IS NOT NULL FROM user_terms_of_use_version));
SELECT setval(pg_get_serial_sequence('user_member_terms_of_use_version_agreed', 'id'),
              GREATEST((SELECT max(id) FROM user_member_terms_of_use_version_agreed), 1),
              (SELECT max(id) IS NOT NULL FROM user_member_terms_of_use_version_agreed));
SELECT setval(pg_get_serial_sequence('user_email_type', 'id'),
              GREATEST((SELECT max(id) FROM user_email_type), 1),
              (SELECT max(id) IS NOT NULL FROM user_email_type));
SELECT setval(pg_get_serial_sequence('user_email_status', 'id'),
              GREATEST((SELECT max(id) FROM user_email_status), 1),
              (SELECT max(id) IS NOT NULL FROM user_email_status));
SELECT setval(pg_get_serial_sequence('user_email', 'id'),
              GREATEST((SELECT max(id) FROM user_email), 1),
              (SELECT max(id) IS NOT NULL FROM user_email));
SELECT setval(pg_get_serial_sequence('user_email_sent', 'id'),
              GREATEST((SELECT max(id) FROM user_email_sent), 1),
              (SELECT max(id) IS NOT NULL FROM user_email_sent));
SELECT setval(pg_get_serial_sequence('user_ad_type', 'id'),
              GREATEST((SELECT max(id) FROM user_ad_type), 1),
              (SELECT max(id) IS NOT NULL FROM user_ad_type));
SELECT setval(pg_get_serial_sequence('user_ad_status', 'id'),
              GREATEST((SELECT max(id) FROM user_ad_status), 1),
              (SELECT max(id) IS NOT NULL FROM user_ad_status));
SELECT setval(pg_get_serial_sequence('user_ad', 'id'),
              GREATEST((SELECT max(id) FROM user_ad), 1),
              (SELECT max(id) IS NOT NULL FROM user_ad));
SELECT setval(pg_get_serial_sequence('user_chat_message', 'id'),
              GREATEST((SELECT max(id) FROM user_chat_message), 1),
              (SELECT max(id) IS NOT NULL FROM user_chat_message));
SELECT setval(pg_get_serial_sequence('clientevent_configuration', 'id'),
              GREATEST((SELECT max(id) FROM clientevent_configuration), 1),
              (SELECT max(id) IS NOT NULL FROM clientevent_configuration));
SELECT setval(pg_get_serial_sequence('clientevent_pageview', 'id'),
              GREATEST((SELECT max(id) FROM clientevent_pageview), 1),
              (SELECT max(id) IS NOT NULL FROM clientevent_pageview));
SELECT setval(pg_get_serial_sequence('clientevent_ajax_error', 'id'),
              GREATEST((SELECT max(id) FROM clientevent_ajax_error), 1),
              (SELECT max(id) IS NOT NULL FROM clientevent_ajax_error));
SELECT setval(pg_get_serial_sequence('clientevent_button_click', 'id'),
              GREATEST((SELECT max(id) FROM clientevent_button_click), 1),
              (SELECT max(id) IS NOT NULL FROM clientevent_button_click));
SELECT setval(pg_get_serial_sequence('clientevent_linkevent', 'id'),
              GREATEST((SELECT max(id) FROM clientevent_linkevent), 1),
              (SELECT max(id) IS NOT NULL FROM clientevent_linkevent));
SELECT setval(pg_get_serial_sequence('order_configuration', 'id'),
              GREATEST((SELECT max(id) FROM order_configuration), 1),
              (SELECT max(id) IS NOT NULL FROM order_configuration));
SELECT setval(pg_get_serial_sequence('order_sku_type', 'id'),
              GREATEST((SELECT max(id) FROM order_sku_type), 1),
              (SELECT max(id) IS NOT NULL FROM order_sku_type));
SELECT setval(pg_get_serial_sequence('order_sku_inventory', 'id'),
              GREATEST((SELECT max(id) FROM order_sku_inventory), 1),
              (SELECT max(id) IS NOT NULL FROM order_sku_inventory));
SELECT setval(pg_get_serial_sequence('order_sku', 'id'),
              GREATEST((SELECT max(id) FROM order_sku), 1),
              (SELECT max(id) IS NOT NULL FROM order_sku));
SELECT setval(pg_get_serial_sequence('order_sku_price', 'id'),
              GREATEST((SELECT max(id) FROM order_sku_price), 1),
              (SELECT max(id) IS NOT NULL FROM order_sku_price));
SELECT setval(pg_get_serial_sequence('order_sku_image', 'id'),
              GREATEST((SELECT max(id) FROM order_sku_image), 1),
              (SELECT max(id) IS NOT NULL FROM order_sku_image));
SELECT setval(pg_get_serial_sequence('order_product', 'id'),
              GREATEST((SELECT max(id) FROM order_product), 1),
              (SELECT max(id) IS NOT NULL FROM order_product));
SELECT setval(pg_get_serial_sequence('order_product_image', 'id'),
              GREATEST((SELECT max(id) FROM order_product_image), 1),
              (SELECT max(id) IS NOT NULL FROM order_product_image));
SELECT setval(pg_get_serial_sequence('order_product_video', 'id'),
              GREATEST((SELECT max(id) FROM order_product_video), 1),
              (SELECT max(id) IS NOT NULL FROM order_product_video));
SELECT setval(pg_get_serial_sequence('order_product_sku', 'id'),
              GREATEST((SELECT max(id) FROM order_product_sku), 1),
              (SELECT max(id) IS NOT NULL FROM order_product_sku));
SELECT setval(pg_get_serial_sequence('order_shipping_method', 'id'),
              GREATEST((SELECT max(id) FROM order_shipping_method), 1),
              (SELECT max(id) IS NOT NULL FROM order_shipping_method));
SELECT setval(pg_get_serial_sequence('order_status', 'id'),
              GREATEST((SELECT max(id) FROM order_status), 1),
              (SELECT max(id) IS NOT NULL FROM order_status));
SELECT setval(pg_get_serial_sequence('order_cart', 'id'),
              GREATEST((SELECT max(id) FROM order_cart), 1),
              (SELECT max(id) IS NOT NULL FROM order_cart));
SELECT setval(pg_get_serial_sequence('order_cart_shipping_address', 'id'),
              GREATEST((SELECT max(id) FROM order_cart_shipping_address), 1),
              (SELECT max(id) IS NOT NULL FROM order_cart_shipping_address));
SELECT setval(pg_get_serial_sequence('order_cart_payment', 'id'),
              GREATEST((SELECT max(id) FROM order_cart_payment), 1),
              (SELECT max(id) IS NOT NULL FROM order_cart_payment));
SELECT setval(pg_get_serial_sequence('order_cart_sku', 'id'),
              GREATEST((SELECT max(id) FROM order_cart_sku), 1),
              (SELECT max(id) IS NOT NULL FROM order_cart_sku));
SELECT setval(pg_get_serial_sequence('order_cart_shipping_method', 'id'),
              GREATEST((SELECT max(id) FROM order_cart_shipping_method), 1),
              (SELECT max(id) IS NOT NULL FROM order_cart_shipping_method));
SELECT setval(pg_get_serial_sequence('order_order', 'id'),
              GREATEST((SELECT max(id) FROM order_order), 1),
              (SELECT max(id) IS NOT NULL FROM order_order));
SELECT setval(pg_get_serial_sequence('order_order_payment', 'id'),
              GREATEST((SELECT max(id) FROM order_order_payment), 1),
              (SELECT max(id) IS NOT NULL FROM order_order_payment));
SELECT setval(pg_get_serial_sequence('order_order_shipping_address', 'id'),
              GREATEST((SELECT max(id) FROM order_order_shipping_address), 1),
              (SELECT max(id) IS NOT NULL FROM order_order_shipping_address));
SELECT setval(pg_get_serial_sequence('order_order_billing_address', 'id'),
              GREATEST((SELECT max(id) FROM order_order_billing_address), 1),
              (SELECT max(id) IS NOT NULL FROM order_order_billing_address));
SELECT setval(pg_get_serial_sequence('order_order_sku', 'id'),
              GREATEST((SELECT max(id) FROM order_order_sku), 1),
              (SELECT max(id) IS NOT NULL FROM order_order_sku));
SELECT setval(pg_get_serial_sequence('order_order_status', 'id'),
              GREATEST((SELECT max(id) FROM order_order_status), 1),
              (SELECT max(id) IS NOT NULL FROM order_order_status));
SELECT setval(pg_get_serial_sequence('order_order_shipping_method', 'id'),
              GREATEST((SELECT max(id) FROM order_order_shipping_method), 1),
              (SELECT max(id) IS NOT NULL FROM order_order_shipping_method));
SELECT setval(pg_get_serial_sequence('order_order_email_failure', 'id'),
              GREATEST((SELECT max(id) FROM order_order_email_failure), 1),
              (SELECT max(id) IS NOT NULL FROM order_order_email_failure));

-- 0002_django_baseline_seed.sql
--
-- The rows Django's data migrations leave in the app tables at HEAD
-- (data-model.md section 3, api-order.md section 7): 68 rows in 19 tables.
-- Django's auth_group row "Members" is not ours and is not inserted here.
--
-- Ids are explicit, exactly as the Django seeds use them (note: there is no
-- order_sku id 3 and no order_sku_price id 3). Like Django, this file does
-- NOT advance the identity sequences; 0003 does that.
--
-- A Django-created database already holds these rows; the "adopt" path
-- records this file as applied without running it.
--
-- Text values the contract only summarises (the terms-of-use note, the
-- order-confirmation bodies, the two example marketing emails) are
-- reconstructed from the contract's description; see migrations/README.md.
-- Every email body is a Python str.format-style template: the only braces
-- in it are {placeholder} fields.

-- ---------------------------------------------------------------------------
-- clientevent (1 row)
-- ---------------------------------------------------------------------------

INSERT INTO clientevent_configuration (id, log_client_events) VALUES
    (1, true);

-- ---------------------------------------------------------------------------
-- user (16 rows)
-- ---------------------------------------------------------------------------

INSERT INTO user_terms_of_use_version (id, version, version_note, publication_date_time) VALUES
    (1, 1,
     'Specifically, we''ve modified our <a href="/privacy-policy">Privacy Policy</a> and <a href="/terms-of-sale">Terms of Sale</a>. Modifications include clearer descriptions of the information we collect and how we use it, and of the terms that apply when you place an order.',
     '2019-04-20 00:00:00+00');

INSERT INTO user_email_type (id, title) VALUES
    (1, 'Member'),
    (2, 'Prospect');

INSERT INTO user_email_status (id, title) VALUES
    (1, 'Draft'),
    (2, 'Ready'),
    (3, 'Sent');

INSERT INTO user_ad_type (id, title) VALUES
    (1, 'Google AdWords'),
    (2, 'Facebook');

INSERT INTO user_ad_status (id, title) VALUES
    (1, 'Draft'),
    (2, 'Ready'),
    (3, 'Running'),
    (4, 'Stopped');

-- Email templates, final state after Django user migrations 0002 -> 0005.
-- Ids 1 and 2: order confirmations (plain text only is sent; body_html is a
-- literal placeholder string). body_text is a single line: line breaks come
-- from {line_break} (CRLF CRLF) and {short_line_break} (CRLF). The misspelt
-- {prosepct_email_unsubscribe_str} is the real placeholder name.
-- Ids 3 and 4: example marketing emails (Draft).
INSERT INTO user_email (id, subject, email_type_id, email_status_id, body_html, body_text, from_address, bcc_address, em_cd) VALUES
    (1, 'StartUpWebApp.com Order Confirmation', 1, 2,
     'test',
     'Hi {recipient_first_name},{line_break}Thank you for your order!{line_break}ORDER INFORMATION{short_line_break}{order_information}{line_break}View your order here: {ENVIRONMENT_DOMAIN}/account/order?identifier={identifier}&em_cd={em_cd}&mb_cd={mb_cd}{line_break}PRODUCTS{short_line_break}{product_information}{line_break}SHIPPING METHOD{short_line_break}{shipping_information}{line_break}ORDER TOTAL{short_line_break}{order_total_information}{line_break}SHIPPING ADDRESS{short_line_break}{shipping_address_information}{line_break}BILLING ADDRESS{short_line_break}{billing_address_information}{line_break}PAYMENT INFORMATION{short_line_break}{payment_information}{line_break}If you did not place this order, or you think it may be fraudulent, please forward this email to contact@startupwebapp.com so we can look into it.{line_break}We will email you again with updates as your order is prepared and shipped.{short_line_break}Thank you for being part of the StartUp Web App community!{line_break}Terms of Sale: {ENVIRONMENT_DOMAIN}/terms-of-sale{line_break}© 2018 StartUp Web App LLC, All rights reserved.',
     'StartUpWebApp <bart+startupwebapp@mosaicmeshai.com>', '', 'gvREoqen93ffZsmBIc8zl'),
    (2, 'StartUpWebApp.com Order Confirmation', 2, 2,
     'test prospect',
     'Hi {recipient_first_name},{line_break}Thank you for your order!{line_break}ORDER INFORMATION{short_line_break}{order_information}{line_break}View your order here: {ENVIRONMENT_DOMAIN}/account/order?identifier={identifier}&em_cd={em_cd}&pr_cd={pr_cd}{line_break}PRODUCTS{short_line_break}{product_information}{line_break}SHIPPING METHOD{short_line_break}{shipping_information}{line_break}ORDER TOTAL{short_line_break}{order_total_information}{line_break}SHIPPING ADDRESS{short_line_break}{shipping_address_information}{line_break}BILLING ADDRESS{short_line_break}{billing_address_information}{line_break}PAYMENT INFORMATION{short_line_break}{payment_information}{line_break}If you did not place this order, or you think it may be fraudulent, please forward this email to contact@startupwebapp.com so we can look into it.{line_break}We will email you again with updates as your order is prepared and shipped.{short_line_break}Thank you for being part of the StartUp Web App community!{line_break}Terms of Sale: {ENVIRONMENT_DOMAIN}/terms-of-sale{line_break}© 2018 StartUp Web App LLC, All rights reserved.{line_break}{prosepct_email_unsubscribe_str}',
     'StartUpWebApp <bart+startupwebapp@mosaicmeshai.com>', '', 'FpGyZy6kld9R2XTjqvBQN'),
    (3, 'Example Prospect Email', 2, 1,
'<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{msg_subject}</title>
</head>
<body>
{draft_html}
<p>Hi {recipient_first_name},</p>
<p>Thanks for your interest in <a href="{ENVIRONMENT_DOMAIN}/?em_cd={em_cd}&pr_cd={pr_cd}">StartUpWebApp</a>. This is an example of the emails we send to people who have been in touch with us.</p>
<p>Want to know who we are? Read <a href="{ENVIRONMENT_DOMAIN}/about?em_cd={em_cd}&pr_cd={pr_cd}">about us</a>.</p>
<p>Have a look at <a href="{ENVIRONMENT_DOMAIN}/products?em_cd={em_cd}&pr_cd={pr_cd}">our products</a>, or <a href="{ENVIRONMENT_DOMAIN}/create-account?em_cd={em_cd}&pr_cd={pr_cd}">create an account</a> to keep up with what is new.</p>
<p>The Team<br>Team@StartUpWebApp.com</p>
<hr>
<p>You are receiving this email because you shared your email address with StartUpWebApp. <a href="{ENVIRONMENT_DOMAIN}/account/email-unsubscribe?em_cd={em_cd}&pr_cd={pr_cd}&pr_token={pr_token}">Unsubscribe</a></p>
<p>© 2019 StartUpWebApp LLC</p>
</body>
</html>',
'{draft_text}Hi {recipient_first_name},

Thanks for your interest in StartUpWebApp: {ENVIRONMENT_DOMAIN}/?em_cd={em_cd}&pr_cd={pr_cd}
This is an example of the emails we send to people who have been in touch with us.

Want to know who we are? Read about us: {ENVIRONMENT_DOMAIN}/about?em_cd={em_cd}&pr_cd={pr_cd}

Have a look at our products: {ENVIRONMENT_DOMAIN}/products?em_cd={em_cd}&pr_cd={pr_cd}
Or create an account to keep up with what is new: {ENVIRONMENT_DOMAIN}/create-account?em_cd={em_cd}&pr_cd={pr_cd}

The Team
Team@StartUpWebApp.com

You are receiving this email because you shared your email address with StartUpWebApp.
Unsubscribe: {ENVIRONMENT_DOMAIN}/account/email-unsubscribe?em_cd={em_cd}&pr_cd={pr_cd}&pr_token={pr_token}

© 2019 StartUpWebApp LLC',
     'StartUpWebApp <bart+startupwebapp@mosaicmeshai.com>', '', 'A1jAqhMyLVpBVgxjuknq'),
    (4, 'Example Member Email', 1, 1,
'<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{msg_subject}</title>
</head>
<body>
{draft_html}
<p>Hi {recipient_first_name},</p>
<p>Thank you for being a member of <a href="{ENVIRONMENT_DOMAIN}/?em_cd={em_cd}&mb_cd={mb_cd}">StartUpWebApp</a>. This is an example of the emails we send to our members.</p>
<p>Want to know more about who we are? Read <a href="{ENVIRONMENT_DOMAIN}/about?em_cd={em_cd}&mb_cd={mb_cd}">about us</a>.</p>
<p>You can choose which emails you get from us in your <a href="{ENVIRONMENT_DOMAIN}/account/edit-communication-preferences?em_cd={em_cd}&mb_cd={mb_cd}">communication preferences</a>.</p>
<p>The Team<br>Team@StartUpWebApp.com</p>
<hr>
<p>You are receiving this email because you subscribed to the StartUpWebApp newsletter. <a href="{ENVIRONMENT_DOMAIN}/account/email-unsubscribe?em_cd={em_cd}&mb_cd={mb_cd}&token={token}">Unsubscribe</a></p>
<p>© 2019 StartUpWebApp LLC</p>
</body>
</html>',
'{draft_text}Hi {recipient_first_name},

Thank you for being a member of StartUpWebApp: {ENVIRONMENT_DOMAIN}/?em_cd={em_cd}&mb_cd={mb_cd}
This is an example of the emails we send to our members.

Want to know more about who we are? Read about us: {ENVIRONMENT_DOMAIN}/about?em_cd={em_cd}&mb_cd={mb_cd}

You can choose which emails you get from us in your communication preferences: {ENVIRONMENT_DOMAIN}/account/edit-communication-preferences?em_cd={em_cd}&mb_cd={mb_cd}

The Team
Team@StartUpWebApp.com

You are receiving this email because you subscribed to the StartUpWebApp newsletter.
Unsubscribe: {ENVIRONMENT_DOMAIN}/account/email-unsubscribe?em_cd={em_cd}&mb_cd={mb_cd}&token={token}

© 2019 StartUpWebApp LLC',
     'StartUpWebApp <bart+startupwebapp@mosaicmeshai.com>', '', 'P0Ps5FLIfUUiMpdV3HOB');

-- ---------------------------------------------------------------------------
-- order (51 rows)
-- ---------------------------------------------------------------------------

INSERT INTO order_sku_inventory (id, title, identifier, description) VALUES
    (1, 'In Stock', 'in-stock', 'In Stock items are available to purchase.'),
    (2, 'Back Ordered', 'back-ordered', 'Back Ordered items are not available to purchase at this time.'),
    (3, 'Out of Stock', 'out-of-stock', 'Out of Stock items are not available to purchase.');

INSERT INTO order_status (id, identifier, title, description) VALUES
    (1, 'accepted', 'Accepted', 'The order has been accepted by StartUpWebApp.com and is being processed.'),
    (2, 'manufacturing', 'Manufacturing', 'Custom items in the order are being manufactured.'),
    (3, 'packing', 'Packing', 'The order is being packed for shipment.'),
    (4, 'shipped', 'Shipped', 'The order has been shipped.');

INSERT INTO order_sku_type (id, title) VALUES
    (1, 'product');

-- Django matched these by key and let the sequence assign ids 1-6.
INSERT INTO order_configuration (id, key, float_value, string_value) VALUES
    (1, 'usernames_allowed_to_checkout', NULL, '*'),
    (2, 'an_ct_values_allowed_to_checkout', NULL, '*'),
    (3, 'default_shipping_method', NULL, 'USPSRetailGround'),
    (4, 'initial_order_status', NULL, 'accepted'),
    (5, 'order_confirmation_em_cd_member', NULL, 'gvREoqen93ffZsmBIc8zl'),
    (6, 'order_confirmation_em_cd_prospect', NULL, 'FpGyZy6kld9R2XTjqvBQN');

INSERT INTO order_shipping_method (id, identifier, carrier, shipping_cost, tracking_code_base_url, active) VALUES
    (1, 'USPSPriorityMail2Day', 'USPS Priority Mail 2-Day', 13.65, 'https://tools.usps.com/go/TrackConfirmAction.action?tRef=fullpage&tLc=1&text28777=&tLabels=', true),
    (2, 'USPSRetailGround', 'USPS Retail Ground', 9.56, 'https://tools.usps.com/go/TrackConfirmAction.action?tRef=fullpage&tLc=1&text28777=&tLabels=', true),
    (3, 'FedExGround', 'FedEx Ground', 10.85, 'https://www.fedex.com/apps/fedextrack/?action=track&cntry_code=us&trackingnumber=', true),
    (4, 'UPSGround', 'UPS Ground', 11.34, 'https://wwwapps.ups.com/WebTracking/track?&track.x=Track&trackNums=', true),
    (5, 'None', 'None', 0.00, 'none', false);

INSERT INTO order_product (id, title, title_url, identifier, headline, description_part_1, description_part_2) VALUES
    (1, 'Paper Clips', 'PaperClips', 'bSusp6dBHm',
     'Paper clips can hold up to 20 pieces of paper together!',
     'Made out of high quality metal and folded to exact specifications.',
     'Use paperclips for all your paper binding needs!'),
    (2, 'Binder Clips', 'BinderClips', 'ITHJW3mytn',
     'Binder clips can hold up to 100 pieces of paper together!',
     'These strong binder clips will hold your papers together and won''t ever give up!',
     'Just be careful not to pinch your finger!<br><br>Come in packs of 10.'),
    (3, 'Rubber Bands', 'RubberBands', 'v26ujdy3N1',
     'Rubber bands are perfect for keeping rolled paper rolled!',
     'Assorted colors and sizes.',
     '');

INSERT INTO order_product_image (id, product_id, image_url, main_image, caption) VALUES
    (1, 1, '/img/product/paper_clip_main_2.jpg', true, 'Paperclips'),
    (2, 2, '/img/product/binder_clips_main_2.jpg', true, 'Multiple sizes available'),
    (3, 3, '/img/product/rubber_bands_2.jpg', true, 'Multicolor rubber bands');

INSERT INTO order_product_video (id, product_id, video_url, video_thumbnail_url, caption) VALUES
    (1, 1, 'https://player.vimeo.com/video/334006583', '/img/product/paper_clip_video_1_2_thumbnail.jpg', 'Watch the paper clip in action!'),
    (2, 2, 'https://player.vimeo.com/video/334006589', '/img/product/binder_clip_video_1_2_thumbnail.jpg', 'Watch the paper binder in action!');

-- There is no SKU 3.
INSERT INTO order_sku (id, sku_type_id, sku_inventory_id, color, size, description) VALUES
    (1, 1, 1, 'Silver', 'Medium', 'Left Sided Paperclip'),
    (2, 1, 2, 'Silver', 'Medium', 'Right sided paperclip'),
    (4, 1, 2, 'Black', 'Large', 'Large Binder Clip'),
    (5, 1, 3, 'Black', 'Medium', 'Medium Binder Clip'),
    (6, 1, 1, 'Black', 'Small', 'Small Binder Clip'),
    (7, 1, 1, 'Multi', 'Multi', 'Multiple sizes and colors');

-- Price history; the current price is the newest row per SKU (SKU 7: 14.99).
INSERT INTO order_sku_price (id, sku_id, price, created_date_time) VALUES
    (1, 1, 3.50, '2019-04-22 00:00:00+00'),
    (2, 2, 3.50, '2019-04-22 00:00:00+00'),
    (4, 4, 5.99, '2019-04-22 00:00:00+00'),
    (5, 5, 4.99, '2019-04-22 00:00:00+00'),
    (6, 6, 3.99, '2019-04-22 00:00:00+00'),
    (7, 7, 10.99, '2019-04-20 00:00:00+00'),
    (8, 7, 14.99, '2019-04-22 00:00:00+00');

-- Product-SKU links; ids match the SKU ids.
INSERT INTO order_product_sku (id, product_id, sku_id) VALUES
    (1, 1, 1),
    (2, 1, 2),
    (4, 2, 4),
    (5, 2, 5),
    (6, 2, 6),
    (7, 3, 7);

-- SKU 7 has no image (it falls back to the product image).
INSERT INTO order_sku_image (id, sku_id, image_url, main_image, caption) VALUES
    (1, 1, '/img/product/paper_clip_left_2.jpg', true, 'Left sided paperclip'),
    (2, 2, '/img/product/paper_clip_right_2.jpg', true, 'Right sided paperclip'),
    (4, 4, '/img/product/binder_clip_large_2.jpg', true, 'Large Binder Clip'),
    (5, 5, '/img/product/binder_clip_medium_2.jpg', true, 'Medium Binder Clip'),
    (6, 6, '/img/product/binder_clip_small_2.jpg', true, 'Small Binder Clip');

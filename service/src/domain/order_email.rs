//! The order confirmation email: the `user_email` template (an operator can
//! edit it in the database) filled with Python `str.format`-style named
//! fields, as the legacy did, with real values everywhere (no
//! `None: **** None` payment line).

use crate::domain::checkout::PostalAddress;
use crate::domain::money::Cents;

/// One ordered line.
#[derive(Debug, Clone)]
pub struct OrderedLine {
    pub product_title: String,
    pub description: Option<String>,
    pub color: Option<String>,
    pub size: Option<String>,
    pub price_each: Cents,
    pub quantity: i32,
}

/// Everything the template's fields are made of.
#[derive(Debug, Clone)]
pub struct OrderLetter<'a> {
    pub site: &'a str,
    pub identifier: &'a str,
    pub recipient_name: Option<&'a str>,
    pub lines: &'a [OrderedLine],
    pub shipping_method: Option<(&'a str, Cents)>,
    pub item_subtotal: Cents,
    pub shipping: Cents,
    pub total: Cents,
    pub discount: Cents,
    pub shipping_address: &'a PostalAddress,
    pub billing_address: &'a PostalAddress,
    pub payment_email: &'a str,
    pub em_cd: &'a str,
    /// `("mb_cd", code)` for a member, `("pr_cd", code)` for a prospect.
    pub customer_code: (&'a str, &'a str),
}

const CRLF: &str = "\r\n";

/// Told to prospects, who are not on the marketing list.
pub const PROSPECT_NOTE: &str = "You are NOT included in our email marketing list. If you would \
     like to be added to our marketing email list please reply to this email and let us know.";

/// `$1,234.56`.
pub fn dollars(amount: Cents) -> String {
    let plain = amount.to_string();
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain.as_str()),
    };
    let (whole, cents) = digits.split_once('.').unwrap_or((digits, "00"));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}${grouped}.{cents}")
}

fn address_block(a: &PostalAddress) -> String {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    format!(
        "{}{CRLF}{}{CRLF}{}, {} {}{CRLF}{}",
        v(&a.name),
        v(&a.line1),
        v(&a.city),
        v(&a.state),
        v(&a.postal_code),
        v(&a.country)
    )
}

fn product_line(line: &OrderedLine) -> String {
    let mut parts = vec![line.product_title.clone()];
    for extra in [&line.description, &line.color, &line.size]
        .into_iter()
        .flatten()
    {
        if !extra.is_empty() {
            parts.push(extra.clone());
        }
    }
    let subtotal = Cents(line.price_each.0 * i64::from(line.quantity));
    format!(
        "{}, {} each, Quantity: {}, Subtotal: {}",
        parts.join(", "),
        dollars(line.price_each),
        line.quantity,
        dollars(subtotal)
    )
}

/// The named fields the legacy templates use.
pub fn fields<'a>(letter: &OrderLetter<'a>) -> Vec<(&'a str, String)> {
    let mut totals = format!(
        "Item Subtotal: {}{CRLF}Shipping: {}{CRLF}",
        dollars(letter.item_subtotal),
        dollars(letter.shipping)
    );
    if letter.discount.0 > 0 {
        totals.push_str(&format!("Discount: -{}{CRLF}", dollars(letter.discount)));
    }
    totals.push_str(&format!("Order Total: {}{CRLF}", dollars(letter.total)));
    let mut fields = vec![
        ("line_break", format!("{CRLF}{CRLF}")),
        ("short_line_break", CRLF.to_owned()),
        (
            "recipient_first_name",
            letter
                .recipient_name
                .filter(|n| !n.is_empty())
                .unwrap_or("Customer")
                .to_owned(),
        ),
        (
            "order_information",
            format!("Order Identifier: {}", letter.identifier),
        ),
        (
            "product_information",
            letter
                .lines
                .iter()
                .map(product_line)
                .collect::<Vec<_>>()
                .join(CRLF),
        ),
        (
            "shipping_information",
            letter
                .shipping_method
                .map(|(carrier, cost)| format!("{carrier} {}", dollars(cost)))
                .unwrap_or_else(|| "None selected".to_owned()),
        ),
        ("order_total_information", totals),
        (
            "payment_information",
            format!(
                "Card, processed by Stripe (receipt to {})",
                letter.payment_email
            ),
        ),
        (
            "shipping_address_information",
            address_block(letter.shipping_address),
        ),
        (
            "billing_address_information",
            address_block(letter.billing_address),
        ),
        ("ENVIRONMENT_DOMAIN", letter.site.to_owned()),
        ("identifier", letter.identifier.to_owned()),
        ("em_cd", letter.em_cd.to_owned()),
        (letter.customer_code.0, letter.customer_code.1.to_owned()),
    ];
    if letter.customer_code.0 == "pr_cd" {
        // The legacy key is misspelled; templates use it as is.
        fields.push(("prosepct_email_unsubscribe_str", PROSPECT_NOTE.to_owned()));
    }
    fields
}

/// Python `str.format` with named fields: `{name}` is replaced, `{{` and
/// `}}` are literal braces; an unknown name is left as written rather than
/// failing the order.
pub fn fill(template: &str, fields: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(pos) = rest.find(['{', '}']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let Some(stripped) = tail.strip_prefix('{')
            && let Some(end) = stripped.find('}')
        {
            let name = &stripped[..end];
            match fields.iter().find(|(k, _)| *k == name) {
                Some((_, value)) => out.push_str(value),
                None => out.push_str(&tail[..end + 2]),
            }
            rest = &stripped[end + 1..];
            continue;
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_group_thousands() {
        assert_eq!(dollars(Cents(0)), "$0.00");
        assert_eq!(dollars(Cents(1999)), "$19.99");
        assert_eq!(dollars(Cents(123_456_789)), "$1,234,567.89");
        assert_eq!(dollars(Cents(100_000)), "$1,000.00");
    }

    #[test]
    fn fill_replaces_named_fields_and_keeps_literal_braces() {
        let fields = vec![("a", "1".to_owned()), ("b", "{x}".to_owned())];
        assert_eq!(fill("x{a}y{b}z{{a}}{c}", &fields), "x1y{x}z{a}{c}");
        assert_eq!(fill("unclosed {a", &fields), "unclosed {a");
    }

    #[test]
    fn the_letter_has_real_payment_and_product_lines() {
        let address = PostalAddress {
            name: Some("Jane Doe".into()),
            line1: Some("1 Main St".into()),
            city: Some("Springfield".into()),
            state: Some("IL".into()),
            postal_code: Some("62701".into()),
            country: Some("US".into()),
        };
        let lines = vec![OrderedLine {
            product_title: "Paper Clips".into(),
            description: Some("Left Sided Paperclip".into()),
            color: Some("Silver".into()),
            size: None,
            price_each: Cents(350),
            quantity: 2,
        }];
        let letter = OrderLetter {
            site: "https://shop.example.com",
            identifier: "ABCDE12345",
            recipient_name: Some("Jane Doe"),
            lines: &lines,
            shipping_method: Some(("USPS Retail Ground", Cents(956))),
            item_subtotal: Cents(700),
            shipping: Cents(956),
            total: Cents(1656),
            discount: Cents(0),
            shipping_address: &address,
            billing_address: &address,
            payment_email: "jane@example.com",
            em_cd: "gvREoqen93ffZsmBIc8zl",
            customer_code: ("mb_cd", "MEMBERCODE"),
        };
        let body = fill(
            "{product_information}|{payment_information}|{shipping_address_information}|{mb_cd}",
            &fields(&letter),
        );
        assert!(body.starts_with(
            "Paper Clips, Left Sided Paperclip, Silver, $3.50 each, Quantity: 2, Subtotal: $7.00|"
        ));
        assert!(!body.contains("None"));
        assert!(body.contains("Jane Doe\r\n1 Main St\r\nSpringfield, IL 62701\r\nUS|MEMBERCODE"));
    }
}

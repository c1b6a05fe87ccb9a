//! The shop's HTML: plain, accessible pages with every dynamic value escaped.

use crate::Product;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
         .product{{border:1px solid #ccc;border-radius:8px;padding:1rem;margin:1rem 0}}\
         a.button{{display:inline-block;background:#1a5fb4;color:#fff;padding:.4rem 1rem;border-radius:6px;text-decoration:none}}\
         table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}}</style>\
         </head><body><header><a href=\"/\">Storefront</a> · <a href=\"/orders\">Orders</a></header><main>\n{}\n</main></body></html>\n",
        escape(title),
        body
    )
}

fn money(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// The product list with one "Buy" link per product.
pub fn home(products: &[Product]) -> String {
    let mut body =
        String::from("<h1>Storefront</h1><p>Pay with the test card 4242 4242 4242 4242.</p>");
    for p in products {
        body.push_str(&format!(
            "<section class=\"product\"><h2>{}</h2><p>{}{}</p><a class=\"button\" href=\"/buy/{}\">Buy {}</a></section>",
            escape(&p.name),
            money(p.price),
            if p.recurring { " per month" } else { "" },
            escape(&p.id),
            escape(&p.name),
        ));
    }
    layout("Storefront", &body)
}

/// The page the hosted checkout returns to.
pub fn thanks(id: Option<&str>, status: Option<&str>, signed_in: bool) -> String {
    let mut body = match (id, status) {
        (Some(id), Some("succeeded" | "active")) => format!(
            "<h1>Thank you!</h1><p>Your order <code>{}</code> is paid. The shop learns it from the \
             signed webhook; see <a href=\"/orders\">Orders</a>.</p>",
            escape(id)
        ),
        (Some(id), Some(status)) => format!(
            "<h1>Order {}</h1><p>Status: <strong>{}</strong>.</p>",
            escape(id),
            escape(status)
        ),
        _ => "<h1>Thank you!</h1>".to_owned(),
    };
    if signed_in {
        body.push_str("<p><a href=\"/api/customer-portal\">Manage billing</a></p>");
    }
    layout("Thank you", &body)
}

/// One row of the orders page.
pub struct OrderLine {
    /// Webhook event type.
    pub event_type: String,
    /// The delivery's `webhook-id`.
    pub webhook_id: String,
    /// Inbox processing status.
    pub status: String,
    /// When the event occurred.
    pub received: String,
}

/// Webhooks the shop received, newest first.
pub fn orders(lines: &[OrderLine]) -> String {
    let mut body = String::from(
        "<h1>Orders</h1><p>Every webhook the emulator delivered, stored by the inbox before it \
         answered, then processed once.</p><table><thead><tr><th>Event</th><th>Webhook id</th>\
         <th>Status</th><th>Occurred</th></tr></thead><tbody>",
    );
    for l in lines {
        body.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            escape(&l.event_type),
            escape(&l.webhook_id),
            escape(&l.status),
            escape(&l.received)
        ));
    }
    body.push_str("</tbody></table>");
    layout("Orders", &body)
}

/// A one-line page.
pub fn message(text: &str) -> String {
    layout("Storefront", &format!("<p>{}</p>", escape(text)))
}

//! Invoices: `GET /invoices/payments/{payment_id}` and `/invoices/refunds/{refund_id}` answer a
//! small one-page PDF for a succeeded payment or a refund (404 otherwise). These endpoints need
//! no API key, as in the spec. Payout invoices are served by [`super::payouts`].

use serde_json::Value;

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply, ReplyBody};

/// Content type of an invoice.
pub const PDF: &str = "application/pdf";

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("GET", "/invoices/payments/{payment_id}", payment);
    r.add("GET", "/invoices/refunds/{refund_id}", refund);
}

fn payment(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("payment_id");
    let p = common::must_get(ctx, kind::PAYMENT, "Payment", id)?.data;
    if p["status"] != "succeeded" {
        return Err(ApiError::not_found("Invoice for payment", id));
    }
    Ok(pdf(&format!("Invoice {id}"), &p))
}

fn refund(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("refund_id");
    let r = common::must_get(ctx, kind::REFUND, "Refund", id)?.data;
    Ok(pdf(&format!("Credit note {id}"), &r))
}

fn pdf(title: &str, object: &Value) -> Reply {
    let amount = object["total_amount"]
        .as_i64()
        .or_else(|| object["amount"].as_i64())
        .unwrap_or(0);
    let currency = object["currency"].as_str().unwrap_or("");
    let line = format!("{title} - {amount} {currency} (minor units) - Dodo Payments emulator");
    Reply {
        status: None,
        body: ReplyBody::Bytes(PDF, minimal_pdf(&line)),
    }
}

/// A valid single-page PDF showing one line of text (ASCII; parentheses and backslashes escaped).
pub fn minimal_pdf(text: &str) -> Vec<u8> {
    let escaped: String = text
        .chars()
        .filter(char::is_ascii)
        .flat_map(|c| match c {
            '(' | ')' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let stream = format!("BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!(
            "<< /Length {} >>\nstream\n{stream}\nendstream",
            stream.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_is_well_formed() {
        let pdf = minimal_pdf("Invoice (1) \\ ok");
        let text = String::from_utf8(pdf).unwrap();
        assert!(text.starts_with("%PDF-1.4\n"));
        assert!(text.ends_with("%%EOF\n"));
        assert!(text.contains("(Invoice \\(1\\) \\\\ ok)"));
        let xref: usize = text
            .split("startxref\n")
            .nth(1)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[xref..].starts_with("xref"));
        // Every xref offset points at its object.
        let offsets: Vec<usize> = text[xref..]
            .lines()
            .skip(3)
            .take(5)
            .map(|l| l[..10].parse().unwrap())
            .collect();
        for (i, off) in offsets.iter().enumerate() {
            assert!(text[*off..].starts_with(&format!("{} 0 obj", i + 1)));
        }
    }
}

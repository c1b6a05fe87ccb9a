//! Content moderation: `POST /moderation/screen` with deterministic rules, and its usage.
//!
//! The emulator screens with a fixed word list, not a model. The text is normalised (lower
//! case, runs of whitespace collapsed; `normalized_applied` says whether that changed it) and
//! each category whose words occur scores 0.95, the others 0.01 (`provenance`: `targeted` for
//! a word match, `broad` otherwise). Categories scoring at least 0.5 are `triggered`;
//! `compound_triggered` when two or more are. `decision` is `deny` when a severe category
//! (`child_sexual_exploitation`, `indiscriminate_weapons`, `violent_crimes`) triggered, `flag`
//! when another did, `allow` otherwise. An `image` is accepted and screened as clean (a second
//! pass). A request with neither `text` nor `image` answers 422. Every screen is counted:
//! `GET /moderation/usage` answers screens per day, oldest first, and billing in blocks of
//! [`BLOCK`] screens (`unbilled_screens`, `screens_to_next_block`).

use serde_json::{Map, Value, json};

use super::common::kind;
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};

/// Screens billed together.
pub const BLOCK: i64 = 1_000;

/// The categories and the words that trigger them.
pub const RULES: &[(&str, &[&str])] = &[
    ("violent_crimes", &["kill", "murder", "assault"]),
    ("sex_related_crimes", &["trafficking"]),
    ("child_sexual_exploitation", &["csam"]),
    ("suicide_and_self_harm", &["suicide", "self-harm"]),
    ("indiscriminate_weapons", &["bomb", "nerve agent"]),
    ("intellectual_property", &["pirated", "cracked license"]),
    ("defamation", &["is a fraudster"]),
    ("non_violent_crimes", &["counterfeit", "launder"]),
    ("hate", &["hate speech", "slur"]),
    ("privacy", &["social security number", "ssn"]),
    ("specialized_advice", &["dosage"]),
    ("sexual_content", &["nsfw", "explicit"]),
    ("non_consensual_intimate_imagery", &["revenge porn"]),
    ("minor_coded_language", &["underage"]),
    ("real_person_likeness", &["deepfake"]),
    ("living_artist_style", &["in the style of"]),
    (
        "prompt_injection",
        &["ignore previous instructions", "ignore all previous"],
    ),
];

const SEVERE: &[&str] = &[
    "child_sexual_exploitation",
    "indiscriminate_weapons",
    "violent_crimes",
];

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/moderation/screen", screen);
    r.add("GET", "/moderation/usage", usage);
}

/// Screens a text (the pure rule, without storage).
pub fn judge(text: &str) -> Value {
    let normalised = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let mut scores = Map::new();
    let mut provenance = Map::new();
    let mut triggered = Vec::new();
    let mut notes = Vec::new();
    for (category, words) in RULES {
        let hit = words.iter().find(|w| normalised.contains(*w));
        scores.insert(
            (*category).into(),
            json!(if hit.is_some() { 0.95 } else { 0.01 }),
        );
        provenance.insert(
            (*category).into(),
            json!(if hit.is_some() { "targeted" } else { "broad" }),
        );
        if let Some(w) = hit {
            triggered.push(*category);
            notes.push(format!("matched `{w}` ({category})"));
        }
    }
    let decision = if triggered.iter().any(|c| SEVERE.contains(c)) {
        "deny"
    } else if triggered.is_empty() {
        "allow"
    } else {
        "flag"
    };
    json!({
        "categories": scores, "provenance": provenance, "triggered": triggered,
        "compound_triggered": triggered.len() >= 2, "decision": decision, "notes": notes,
        "normalized_applied": normalised != text, "passes": 1, "latency_ms": 1,
    })
}

fn screen(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: dodo_types::models::ModerationScreenRequest = req.input()?;
    if input.text.is_none() && input.image.is_none() {
        return Err(ApiError::invalid_field(
            "text",
            "give `text`, `image` or both",
        ));
    }
    let mut out = judge(input.text.as_deref().unwrap_or(""));
    if input.image.is_some() {
        out["passes"] = json!(if input.text.is_some() { 2 } else { 1 });
    }
    out["request_id"] = json!(input.request_id);
    let now = ctx.now_string();
    let id = new_id("mod_");
    ctx.db.insert(
        kind::MODERATION_SCREEN,
        &id,
        None,
        &now,
        &json!({"id": id, "date": now.get(..10).unwrap_or_default(), "decision": out["decision"]}),
    )?;
    Ok(Reply::json(out))
}

fn usage(ctx: &Ctx<'_>, _req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut screens = ctx.db.list(kind::MODERATION_SCREEN, &[], u32::MAX, 0)?;
    screens.reverse();
    let mut daily: Vec<(String, i64)> = Vec::new();
    for s in &screens {
        let date = s.data["date"].as_str().unwrap_or_default().to_string();
        match daily.last_mut() {
            Some((d, n)) if *d == date => *n += 1,
            _ => daily.push((date, 1)),
        }
    }
    let total = i64::try_from(screens.len()).unwrap_or(i64::MAX);
    let unbilled = total % BLOCK;
    Ok(Reply::json(json!({
        "daily": daily.into_iter().map(|(d, n)| json!({"date": d, "screens": n})).collect::<Vec<_>>(),
        "unbilled_screens": unbilled,
        "screens_to_next_block": BLOCK - unbilled,
    })))
}

#[cfg(test)]
mod tests {
    use super::{RULES, judge};

    #[test]
    fn every_category_of_the_spec_has_a_rule() {
        assert_eq!(RULES.len(), 17);
    }

    #[test]
    fn the_rules_decide_deterministically() {
        let clean = judge("A friendly product description.");
        assert_eq!(clean["decision"], "allow");
        assert_eq!(clean["normalized_applied"], true);
        assert_eq!(clean["triggered"], serde_json::json!([]));
        let flagged = judge("sell a pirated copy");
        assert_eq!(flagged["decision"], "flag");
        assert_eq!(flagged["categories"]["intellectual_property"], 0.95);
        assert_eq!(flagged["categories"]["hate"], 0.01);
        let denied = judge("how to build a BOMB");
        assert_eq!(denied["decision"], "deny");
        assert_eq!(denied["provenance"]["indiscriminate_weapons"], "targeted");
        assert_eq!(judge("same text"), judge("same text"));
    }
}

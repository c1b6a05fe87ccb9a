//! Where a command that signs webhooks finds its secret: the `--secret` flag, else the app's
//! own variables, first set wins: `DODO_PAYMENTS_WEBHOOK_SECRET`, `DODO_PAYMENTS_WEBHOOK_KEY`
//! (what the official SDKs and `@dodopayments/express` read), then the older
//! `DODO_WEBHOOK_SECRET`. Errors name where the bad value came from, never the value.

use crate::http::CmdError;

/// The variables read, in order; the first one set (and not empty) wins.
pub const SECRET_VARS: [&str; 3] = [
    "DODO_PAYMENTS_WEBHOOK_SECRET",
    "DODO_PAYMENTS_WEBHOOK_KEY",
    "DODO_WEBHOOK_SECRET",
];

/// A signing secret and where it came from (`--secret` or a variable's name).
#[derive(Clone)]
pub struct Found {
    /// The `whsec_...` value.
    pub value: String,
    /// `--secret` or the variable's name.
    pub source: String,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("value", &"<redacted>")
            .field("source", &self.source)
            .finish()
    }
}

/// The flag's value, else the first of [`SECRET_VARS`] that `lookup` finds non-empty.
pub fn find(flag: Option<String>, lookup: impl Fn(&str) -> Option<String>) -> Option<Found> {
    if let Some(value) = flag {
        return Some(Found {
            value,
            source: "--secret".into(),
        });
    }
    SECRET_VARS.iter().find_map(|name| {
        lookup(name)
            .filter(|v| !v.trim().is_empty())
            .map(|value| Found {
                value,
                source: (*name).to_string(),
            })
    })
}

/// Parses a found secret, naming its source when it is not a usable `whsec_` secret.
pub fn parse(found: &Found) -> Result<dodo_webhooks::WebhookSecret, CmdError> {
    dodo_webhooks::WebhookSecret::new(&found.value).map_err(|e| {
        CmdError::Failed(format!(
            "the webhook secret from {} is not usable: {e} (expected `whsec_` followed by base64)",
            found.source
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_flag_wins_over_every_variable() {
        let found = find(
            Some("whsec_flag".into()),
            env(&[("DODO_PAYMENTS_WEBHOOK_SECRET", "whsec_var")]),
        )
        .unwrap();
        assert_eq!(
            (found.value.as_str(), found.source.as_str()),
            ("whsec_flag", "--secret")
        );
    }

    #[test]
    fn secret_then_key_then_the_old_name() {
        let all = env(&[
            ("DODO_PAYMENTS_WEBHOOK_SECRET", "whsec_a"),
            ("DODO_PAYMENTS_WEBHOOK_KEY", "whsec_b"),
            ("DODO_WEBHOOK_SECRET", "whsec_c"),
        ]);
        assert_eq!(
            find(None, all).unwrap().source,
            "DODO_PAYMENTS_WEBHOOK_SECRET"
        );
        let two = env(&[
            ("DODO_PAYMENTS_WEBHOOK_KEY", "whsec_b"),
            ("DODO_WEBHOOK_SECRET", "whsec_c"),
        ]);
        let found = find(None, two).unwrap();
        assert_eq!(
            (found.value.as_str(), found.source.as_str()),
            ("whsec_b", "DODO_PAYMENTS_WEBHOOK_KEY")
        );
        let old = find(None, env(&[("DODO_WEBHOOK_SECRET", "whsec_c")])).unwrap();
        assert_eq!(old.source, "DODO_WEBHOOK_SECRET");
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let found = find(
            None,
            env(&[
                ("DODO_PAYMENTS_WEBHOOK_SECRET", " "),
                ("DODO_PAYMENTS_WEBHOOK_KEY", "whsec_b"),
            ]),
        )
        .unwrap();
        assert_eq!(found.source, "DODO_PAYMENTS_WEBHOOK_KEY");
        assert!(find(None, env(&[])).is_none());
    }

    #[test]
    fn a_bad_secret_names_its_variable_not_its_value() {
        let found = Found {
            value: "not-a-secret-hunter2".into(),
            source: "DODO_PAYMENTS_WEBHOOK_KEY".into(),
        };
        let msg = parse(&found).unwrap_err().to_string();
        assert!(msg.contains("DODO_PAYMENTS_WEBHOOK_KEY"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(!format!("{found:?}").contains("hunter2"));
    }
}

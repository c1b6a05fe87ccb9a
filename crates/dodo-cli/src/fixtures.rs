//! `dodo-dev fixtures FILE`: create a set of related objects through the API in one go, the
//! way `stripe fixtures` does.
//!
//! The file is JSON: `{"fixtures": [{"name", "method"?, "path", "params"?}, ...]}`, run in
//! order. Any string in `path` or `params` may hold references, resolved before the request:
//! `${name:field.path}` is a field of an earlier fixture's answer (`${book:product_id}`,
//! `${cart:product_cart.0.product_id}`), `${.env:NAME}` an environment variable. A string that
//! is exactly one reference takes the referenced JSON value as is (a number stays a number).
//! Every reference is checked before the first request, so a typo creates nothing; a failed
//! request stops the run and the error lists what was already created.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::http::{CmdError, call, chain};
use crate::listen::DEFAULT_EMULATOR;

/// Options of `dodo-dev fixtures`.
#[derive(Debug, Args)]
#[command(
    after_help = r#"A fixtures file (a product, then a customer, then a checkout for both):
  {"fixtures": [
    {"name": "book", "path": "/products", "params": {"name": "Book", "tax_category": "digital_products",
      "price": {"type": "one_time_price", "currency": "USD", "price": 1500, "discount": 0, "purchasing_power_parity": false}}},
    {"name": "ada", "path": "/customers", "params": {"email": "ada@example.com", "name": "Ada"}},
    {"name": "checkout", "path": "/checkouts", "params": {
      "product_cart": [{"product_id": "${book:product_id}", "quantity": 1}],
      "customer": {"customer_id": "${ada:customer_id}"}}}
  ]}

Examples:
  dodo-dev fixtures shop.json
  dodo-dev fixtures shop.json --json | jq -r .checkout.checkout_url
  DODO_PAYMENTS_BASE_URL=http://127.0.0.1:4242 DODO_PAYMENTS_API_KEY=sk_local dodo-dev fixtures shop.json"#
)]
pub struct FixturesArgs {
    /// The fixtures file (JSON).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The API to create the objects on (the emulator by default).
    #[arg(long, env = "DODO_PAYMENTS_BASE_URL", default_value = DEFAULT_EMULATOR, value_name = "URL")]
    pub base_url: String,
    /// API key (sent as a Bearer token).
    #[arg(long, env = "DODO_PAYMENTS_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Print one JSON object mapping each fixture's name to the API's answer.
    #[arg(long)]
    pub json: bool,
}

/// A fixtures file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureFile {
    /// The requests, run in order.
    pub fixtures: Vec<Fixture>,
}

/// One request of a fixtures file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// The name later fixtures refer to.
    pub name: String,
    /// HTTP method (POST by default).
    #[serde(default = "post")]
    pub method: String,
    /// Path under the base URL, e.g. `/products`.
    pub path: String,
    /// JSON body (query for GET/DELETE is not supported: put it in the path).
    #[serde(default)]
    pub params: Option<Value>,
}

fn post() -> String {
    "POST".into()
}

/// A `${...}` reference inside a string.
#[derive(Debug, PartialEq, Eq)]
enum Ref<'a> {
    /// `${name:path}`.
    Fixture { name: &'a str, path: &'a str },
    /// `${.env:NAME}`.
    Env(&'a str),
}

/// The references of `s` with their byte ranges, or an error for a malformed one.
fn references(s: &str) -> Result<Vec<(std::ops::Range<usize>, Ref<'_>)>, String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(start) = s[from..].find("${").map(|i| i + from) {
        let end = s[start..]
            .find('}')
            .map(|i| i + start)
            .ok_or_else(|| format!("`{s}`: `${{` without a closing `}}`"))?;
        let inner = &s[start + 2..end];
        let (name, path) = inner.split_once(':').ok_or_else(|| {
            format!("`${{{inner}}}`: expected `${{name:field}}` or `${{.env:NAME}}`")
        })?;
        if name.is_empty() || path.is_empty() {
            return Err(format!("`${{{inner}}}`: empty name or field"));
        }
        let r = if name == ".env" {
            Ref::Env(path)
        } else {
            Ref::Fixture { name, path }
        };
        out.push((start..end + 1, r));
        from = end + 1;
    }
    Ok(out)
}

/// Checks names, methods, paths and every reference before anything is sent.
pub fn check(file: &FixtureFile, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    let mut earlier: Vec<&str> = Vec::new();
    for (i, f) in file.fixtures.iter().enumerate() {
        let at = format!("fixture {} (`{}`)", i + 1, f.name);
        if f.name.is_empty() || f.name.starts_with('.') || f.name.contains([':', '}']) {
            return Err(format!(
                "{at}: a name must be non-empty, not start with `.`, and hold no `:` or `}}`"
            ));
        }
        if earlier.contains(&f.name.as_str()) {
            return Err(format!("{at}: the name is used twice"));
        }
        if !["GET", "POST", "PUT", "PATCH", "DELETE"]
            .contains(&f.method.to_ascii_uppercase().as_str())
        {
            return Err(format!(
                "{at}: method `{}` is not one of GET, POST, PUT, PATCH, DELETE",
                f.method
            ));
        }
        if !f.path.starts_with('/') {
            return Err(format!("{at}: path `{}` must start with `/`", f.path));
        }
        let mut strings = vec![f.path.as_str()];
        if let Some(p) = &f.params {
            collect_strings(p, &mut strings);
        }
        for s in strings {
            for (_, r) in references(s).map_err(|e| format!("{at}: {e}"))? {
                match r {
                    Ref::Fixture { name, .. } if !earlier.contains(&name) => {
                        return Err(format!(
                            "{at}: `${{{name}:...}}` names no earlier fixture (earlier: {})",
                            if earlier.is_empty() {
                                "none".to_string()
                            } else {
                                earlier.join(", ")
                            }
                        ));
                    }
                    Ref::Env(var) if env(var).is_none() => {
                        return Err(format!("{at}: the environment variable {var} is not set"));
                    }
                    _ => {}
                }
            }
        }
        earlier.push(&f.name);
    }
    Ok(())
}

fn collect_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// Looks `path` (dot-separated keys and array indexes) up in `v`.
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, key| match cur {
        Value::Object(o) => o.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Resolves the references of one string against the answers so far.
fn resolve_str(
    s: &str,
    done: &Map<String, Value>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, String> {
    let refs = references(s)?;
    let value_of = |r: &Ref<'_>| -> Result<Value, String> {
        match r {
            Ref::Env(var) => env(var)
                .map(Value::String)
                .ok_or_else(|| format!("the environment variable {var} is not set")),
            Ref::Fixture { name, path } => done
                .get(*name)
                .and_then(|answer| lookup(answer, path))
                .cloned()
                .ok_or_else(|| {
                    format!("`${{{name}:{path}}}`: the answer of `{name}` has no field `{path}`")
                }),
        }
    };
    if let [(range, r)] = refs.as_slice()
        && range.start == 0
        && range.end == s.len()
    {
        return value_of(r);
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for (range, r) in &refs {
        out.push_str(&s[last..range.start]);
        match value_of(r)? {
            Value::String(v) => out.push_str(&v),
            other => out.push_str(&other.to_string()),
        }
        last = range.end;
    }
    out.push_str(&s[last..]);
    Ok(Value::String(out))
}

/// Resolves every string of `v`.
fn resolve(
    v: &Value,
    done: &Map<String, Value>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => resolve_str(s, done, env)?,
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| resolve(x, done, env))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), resolve(x, done, env)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// The id an answer is known by: `id`, else `<resource>_id` for the path's first segment
/// (`/products` → `product_id`), else `session_id` (checkouts), else the first `*_id` string
/// that is not the business's or the brand's.
fn id_of(answer: &Value, path: &str) -> String {
    let resource = path
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let singular = resource
        .strip_suffix('s')
        .unwrap_or(resource)
        .replace('-', "_");
    let preferred = [
        "id".to_string(),
        format!("{singular}_id"),
        "session_id".to_string(),
    ];
    for key in &preferred {
        if let Some(id) = answer[key.as_str()].as_str() {
            return id.to_string();
        }
    }
    answer
        .as_object()
        .into_iter()
        .flatten()
        .find(|(k, v)| {
            k.ends_with("_id") && *k != "business_id" && *k != "brand_id" && v.is_string()
        })
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("")
        .to_string()
}

fn read(path: &Path) -> Result<FixtureFile, CmdError> {
    let text = std::fs::read_to_string(path).map_err(|source| CmdError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text)
        .map_err(|e| CmdError::Failed(format!("{}: not a fixtures file: {e}", path.display())))
}

/// Runs `dodo-dev fixtures FILE`.
pub async fn run(args: FixturesArgs, http: reqwest::Client) -> Result<(), CmdError> {
    let file = read(&args.file)?;
    let env = |name: &str| std::env::var(name).ok();
    check(&file, &env).map_err(|e| CmdError::Failed(format!("{}: {e}", args.file.display())))?;
    let base = args.base_url.trim_end_matches('/');
    let mut done = Map::new();
    let mut ids: Vec<String> = Vec::new();
    for f in &file.fixtures {
        let fail = |e: String, ids: &[String]| {
            CmdError::Failed(format!(
                "fixture `{}`: {e}\nalready created: {}",
                f.name,
                if ids.is_empty() {
                    "nothing".to_string()
                } else {
                    ids.join(", ")
                }
            ))
        };
        let path = resolve_str(&f.path, &done, &env).map_err(|e| fail(e, &ids))?;
        let path = path.as_str().unwrap_or_default().to_string();
        let params = match &f.params {
            Some(p) => Some(resolve(p, &done, &env).map_err(|e| fail(e, &ids))?),
            None => None,
        };
        let method = reqwest::Method::from_bytes(f.method.to_ascii_uppercase().as_bytes())
            .map_err(|e| fail(e.to_string(), &ids))?;
        let answer = call(
            &http,
            method.clone(),
            &format!("{base}{path}"),
            args.api_key.as_deref(),
            params.as_ref(),
        )
        .await
        .map_err(|e| fail(chain(&e), &ids))?;
        if !args.json {
            say!("{}: {method} {path} → {}", f.name, id_of(&answer, &path));
        }
        ids.push(format!("{} = {}", f.name, id_of(&answer, &path)));
        done.insert(f.name.clone(), answer);
    }
    if args.json {
        say!("{}", Value::Object(done));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn file(v: Value) -> FixtureFile {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_whole_string_reference_keeps_the_json_type() {
        let mut done = Map::new();
        done.insert(
            "book".into(),
            json!({"product_id": "pdt_1", "price": {"price": 1500}}),
        );
        assert_eq!(
            resolve_str("${book:price.price}", &done, &no_env).unwrap(),
            json!(1500)
        );
        assert_eq!(
            resolve_str("/products/${book:product_id}/x", &done, &no_env).unwrap(),
            json!("/products/pdt_1/x")
        );
        let items = json!({"items": [{"id": "a"}, {"id": "b"}]});
        assert_eq!(lookup(&items, "items.1.id"), Some(&json!("b")));
        assert!(
            resolve_str("${book:nope}", &done, &no_env)
                .unwrap_err()
                .contains("no field `nope`")
        );
    }

    #[test]
    fn references_to_later_or_unknown_fixtures_are_refused_before_sending() {
        let f = file(json!({"fixtures": [
            {"name": "checkout", "path": "/checkouts", "params": {"customer": {"customer_id": "${ada:customer_id}"}}},
            {"name": "ada", "path": "/customers", "params": {"email": "a@example.com", "name": "A"}}
        ]}));
        let err = check(&f, &no_env).unwrap_err();
        assert!(
            err.contains("fixture 1 (`checkout`)") && err.contains("names no earlier fixture"),
            "{err}"
        );
    }

    #[test]
    fn malformed_files_are_refused() {
        let twice =
            file(json!({"fixtures": [{"name": "a", "path": "/x"}, {"name": "a", "path": "/y"}]}));
        assert!(check(&twice, &no_env).unwrap_err().contains("used twice"));
        let unclosed = file(json!({"fixtures": [{"name": "a", "path": "/x/${b:id"}]}));
        assert!(check(&unclosed, &no_env).unwrap_err().contains("closing"));
        let method = file(json!({"fixtures": [{"name": "a", "method": "TRACE", "path": "/x"}]}));
        assert!(check(&method, &no_env).unwrap_err().contains("TRACE"));
        let env = file(
            json!({"fixtures": [{"name": "a", "path": "/x", "params": {"k": "${.env:DODO_NOPE}"}}]}),
        );
        assert!(check(&env, &no_env).unwrap_err().contains("DODO_NOPE"));
        assert!(
            serde_json::from_value::<FixtureFile>(
                json!({"fixtures": [{"name": "a", "path": "/x", "body": {}}]})
            )
            .is_err()
        );
    }

    #[test]
    fn the_id_is_id_or_the_first_star_id_field() {
        assert_eq!(
            id_of(&json!({"id": "wh_1", "x_id": "no"}), "/webhooks"),
            "wh_1"
        );
        let product = json!({"brand_id": "brd_1", "business_id": "bus_1", "product_id": "pdt_1"});
        assert_eq!(id_of(&product, "/products"), "pdt_1");
        assert_eq!(
            id_of(
                &json!({"session_id": "cks_1", "checkout_url": "u"}),
                "/checkouts"
            ),
            "cks_1"
        );
    }
}

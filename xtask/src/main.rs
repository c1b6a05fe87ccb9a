//! Project automation for the Dodo Payments Rust toolkit.
//!
//! `cargo xtask codegen [--check] [--spec PATH] [--overlay PATH]` generates the models of
//! `dodo-types` and the typed methods of `dodo-client` from the OpenAPI spec (kept outside
//! the repository, in `../shared/dodo-openapi/`) plus the in-repo overlay for endpoints newer
//! than the spec. `--check` writes nothing and exits non-zero when the committed code is
//! stale. `cargo xtask endpoints` prints one `METHOD /path` line per client operation.

mod emit_client;
mod emit_ops;
mod emit_tests;
mod emit_types;
mod features;
mod names;
mod schema;
mod spec;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

/// Where inputs live, resolved from the command line.
struct Inputs {
    spec: PathBuf,
    endpoints: PathBuf,
    overlay: PathBuf,
    operations: PathBuf,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn parse_inputs(args: &[String]) -> Result<(Inputs, bool)> {
    let root = repo_root();
    let mut spec = root.join("../shared/dodo-openapi/openapi.json");
    let mut overlay = root.join("codegen/overlay.json");
    let mut endpoints = None;
    let mut check = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--spec" => spec = PathBuf::from(it.next().context("--spec needs a path")?),
            "--overlay" => overlay = PathBuf::from(it.next().context("--overlay needs a path")?),
            "--endpoints" => {
                endpoints = Some(PathBuf::from(
                    it.next().context("--endpoints needs a path")?,
                ))
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    let endpoints = endpoints.unwrap_or_else(|| {
        spec.parent()
            .unwrap_or(Path::new("."))
            .join("endpoints.tsv")
    });
    Ok((
        Inputs {
            spec,
            endpoints,
            overlay,
            operations: root.join("codegen/operations.tsv"),
        },
        check,
    ))
}

fn run() -> Result<bool> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        bail!("usage: cargo xtask <codegen [--check] | endpoints> [--spec PATH] [--overlay PATH]");
    };
    let (inputs, check) = parse_inputs(rest)?;
    let api = spec::Api::load(&inputs)?;
    match command.as_str() {
        "endpoints" => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            for op in &api.operations {
                // A closed pipe (`| head`) just ends the listing.
                if writeln!(stdout, "{} {}", op.method, op.path).is_err() {
                    break;
                }
            }
            Ok(true)
        }
        "codegen" => {
            let files = generate(&api)?;
            let root = repo_root();
            if check {
                let stale = files
                    .iter()
                    .filter(|(path, content)| {
                        std::fs::read_to_string(root.join(path)).ok().as_deref()
                            != Some(content.as_str())
                    })
                    .map(|(path, _)| path.clone())
                    .collect::<Vec<_>>();
                let extra = emit_client::stale_extra_files(&root, &files)?;
                for path in stale.iter().chain(extra.iter()) {
                    eprintln!("stale: {path}");
                }
                if stale.is_empty() && extra.is_empty() {
                    eprintln!("generated code is up to date ({} files)", files.len());
                    Ok(true)
                } else {
                    eprintln!("generated code is stale: run `cargo xtask codegen`");
                    Ok(false)
                }
            } else {
                emit_client::remove_extra_files(&root, &files)?;
                for (path, content) in &files {
                    let full = root.join(path);
                    if let Some(dir) = full.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    std::fs::write(&full, content)
                        .with_context(|| format!("writing {}", full.display()))?;
                }
                eprintln!("wrote {} files", files.len());
                Ok(true)
            }
        }
        other => bail!("unknown command {other:?}"),
    }
}

/// Every generated file: (path relative to the repo root, formatted content).
fn generate(api: &spec::Api) -> Result<Vec<(String, String)>> {
    let types = schema::TypeSet::build(api)?;
    let mut files = vec![
        (
            "crates/dodo-types/src/generated/models.rs".to_owned(),
            emit_types::models(api, &types)?,
        ),
        (
            "crates/dodo-types/src/generated/operations.rs".to_owned(),
            emit_ops::operations(api, &types)?,
        ),
        (
            "crates/dodo-client/tests/generated_requests.rs".to_owned(),
            emit_tests::request_tests(api, &types)?,
        ),
    ];
    files.extend(emit_client::resources(api, &types)?);
    for (path, content) in &mut files {
        *content = rustfmt(content).with_context(|| format!("formatting {path}"))?;
    }
    files.extend(features::manifests(&repo_root(), api)?);
    files.sort();
    Ok(files)
}

/// Formats Rust source with the toolchain's rustfmt so output is stable and readable.
fn rustfmt(source: &str) -> Result<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running rustfmt")?;
    child
        .stdin
        .take()
        .context("rustfmt stdin")?
        .write_all(source.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        let dump = std::env::temp_dir().join("xtask-rustfmt-input.rs");
        std::fs::write(&dump, source)?;
        bail!(
            "rustfmt failed (input saved to {}): {}",
            dump.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

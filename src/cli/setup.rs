//! `cfship setup --config FILE`: installs (or upgrades) the index templates.

use anyhow::{Context, Result};
use cfship_elasticsearch::TemplateOutcome;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The configuration file (see cfship.example.yml); needs an `elasticsearch:` section.
    #[arg(long, short, env = "CFSHIP_CONFIG")]
    pub config: PathBuf,
}

pub async fn run(args: SetupArgs) -> Result<Vec<String>> {
    let cfg = crate::app::wiring::load_config(&args.config)?;
    let es_cfg = crate::app::wiring::es_config(&cfg).context(
        "setup installs Elasticsearch index templates: add an `elasticsearch:` section to the config",
    )?;
    let sink = cfship_elasticsearch::ElasticsearchSink::connect(es_cfg)
        .await
        .context("connecting to Elasticsearch")?;
    let outcomes = sink
        .ensure_templates()
        .await
        .context("installing index templates")?;
    let backend = sink.backend().describe();
    let mut lines = Vec::new();
    if cfg.state.backend == crate::config::StateBackend::Elasticsearch {
        let index = cfg.state.index_name().to_string();
        let es_cfg = crate::app::wiring::es_config(&cfg).context("elasticsearch section")?;
        let outcome = tokio::task::spawn_blocking(move || {
            cfship_state::EsStore::connect(&es_cfg, &index)?.ensure_index()
        })
        .await
        .context("state index task")?
        .with_context(|| format!("state index {}", cfg.state.index_name()))?;
        let what = match outcome {
            cfship_state::IndexOutcome::Created => "created".to_string(),
            cfship_state::IndexOutcome::Unchanged => "already up to date".to_string(),
            cfship_state::IndexOutcome::Updated { from } => match from {
                Some(f) => format!("mapping upgraded from format {f}"),
                None => "mapping brought up to date".to_string(),
            },
        };
        lines.push(format!(
            "state index {} (format {}): {what} on {backend}",
            cfg.state.index_name(),
            cfship_state::STATE_MAPPING_VERSION
        ));
    }
    let mut out: Vec<String> = outcomes
        .into_iter()
        .map(|o| {
            let what = match &o {
                TemplateOutcome::Installed { version, .. } => {
                    format!("installed version {version}")
                }
                TemplateOutcome::Upgraded { from, to, .. } => match from {
                    Some(f) => format!("upgraded from version {f} to {to}"),
                    None => format!("replaced an unversioned template with version {to}"),
                },
                TemplateOutcome::Unchanged { version, .. } => {
                    format!("already at version {version}")
                }
                TemplateOutcome::KeptNewer {
                    installed, ours, ..
                } => {
                    format!("kept the installed version {installed} (newer than ours, {ours})")
                }
            };
            format!("index template {}: {what} on {backend}", o.name())
        })
        .collect();
    out.extend(lines);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use cfship_ecs::logpush::Ds;
    use cfship_elasticsearch::IndexTemplate;

    /// `setup` installs a template for every `cloudflare_logpush` data stream `transform` knows, and
    /// no template without a transform (the two registries stay in step).
    #[test]
    fn every_logpush_data_stream_has_a_template() {
        for ds in Ds::ALL {
            let t = IndexTemplate::logpush(ds.data_stream()).unwrap_or_else(|| {
                panic!(
                    "{}: no index template: add templates/logpush/{}.json and its line in LOGPUSH \
                     (crates/cfship-elasticsearch/src/templates.rs)",
                    ds.name(),
                    ds.data_stream()
                )
            });
            assert_eq!(t.event_dataset(), ds.dataset());
        }
        for t in IndexTemplate::all() {
            if let IndexTemplate::Logpush(name) = t {
                assert!(
                    Ds::from_name(name).is_some(),
                    "template {name} has no transform"
                );
            }
        }
    }
}

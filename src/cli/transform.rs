//! `cfship transform`: raw Cloudflare NDJSON in, ECS NDJSON (or `_bulk` NDJSON) out, offline.

use crate::sync::now_ms;
use anyhow::{Context, Result};
use cfship_ecs::canonical::Numbers;
use cfship_ecs::json::write_str;
use cfship_ecs::{Dataset, GeoIp, Options, Transformer};
use cfship_ndjson::{Item, Kind, Mode, Reader};
use clap::{Args, ValueEnum};
use rayon::prelude::*;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// Largest record accepted; longer records become error documents.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One ECS document per line.
    Docs,
    /// Elasticsearch `_bulk` NDJSON: a `create` action line with `_index` and `_id`, then the document.
    Bulk,
}

#[derive(Debug, Args)]
pub struct TransformArgs {
    /// Which dataset the input holds: audit, logpull (also cloudflare.audit, cloudflare.logpull)
    /// or a Logpush data stream cloudflare_logpush.<data stream> (see --list-datasets).
    #[arg(long, required_unless_present = "list_datasets")]
    pub dataset: Option<String>,
    /// Print every dataset --dataset accepts (with the Cloudflare dataset and the Elastic
    /// package version matched) and exit.
    #[arg(long)]
    pub list_datasets: bool,
    /// Raw Cloudflare records: one JSON object per line, or objects back to back ("-" = stdin).
    #[arg(long, short, default_value = "-")]
    pub input: String,
    /// Where to write the documents ("-" = stdout).
    #[arg(long, short, default_value = "-")]
    pub output: String,
    /// Directory with GeoLite2-City / GeoLite2-ASN .mmdb files (without it: no geo enrichment,
    /// and Cloudflare's ClientCountry / ClientASN are used as upstream does).
    #[arg(long, env = "CFSHIP_GEOIP_DIR")]
    pub geoip_dir: Option<PathBuf>,
    /// Audit: the Cloudflare account id, written to cloud.account.id.
    #[arg(long)]
    pub account_id: Option<String>,
    /// Keep event.original and tag documents with preserve_original_event.
    #[arg(long)]
    pub preserve_original: bool,
    /// Extra tags on every document (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "docs")]
    pub format: OutputFormat,
    /// Data stream namespace for --format bulk (adds data_stream.*, event.dataset, event.module).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Fix the upstream pipeline bugs listed in the README instead of reproducing them.
    #[arg(long)]
    pub fix_upstream_bugs: bool,
    /// Logpull: the records were requested with this custom `fields` list (comma-separated, as
    /// `logpull.fields`): steps that need a field it leaves out do not fail the document.
    #[arg(long, value_delimiter = ',')]
    pub fields: Option<Vec<String>>,
    /// Also write every record that failed (raw text, line, reason) to this NDJSON file.
    #[arg(long)]
    pub dead_letter: Option<PathBuf>,
    /// Re-encode each record as Elastic Agent publishes it before the pipeline (keys sorted,
    /// compact, Go's escapes), as `cfship run` does, so event.original and the Logpull _id are the
    /// daemon's. Default: the input line is event.original as it is (Elastic's pipeline tests).
    #[arg(long)]
    pub reencode: bool,
    /// With the re-encoding, write numbers as Elastic Agent does (float64: integers above 2^53, such
    /// as unixnano timestamps, lose their last digits), so Logpull _ids equal those of Agent's
    /// documents. Implies --reencode.
    #[arg(long)]
    pub agent_numbers: bool,
    /// Transform threads (default: one per core). Output order is the input order whatever the
    /// number.
    #[arg(long, env = "CFSHIP_THREADS")]
    pub threads: Option<usize>,
}

/// Counts reported at the end.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub records: u64,
    pub documents: u64,
    pub errors: u64,
    pub dropped: u64,
}

/// Records transformed in parallel at a time (order is kept).
const CHUNK: usize = 4096;
/// Parts a chunk is cut into per thread (contiguous ranges, so a slow part does not idle the
/// other threads for long).
const PARTS_PER_THREAD: usize = 4;
/// Input read ahead: one reused buffer, the records of a chunk are slices of it.
const READ_AHEAD: usize = 2 << 20;

/// What one thread made of its part of a chunk: the encoded output lines, counts, and the
/// failed records for the warnings and the dead-letter file. A part owns all it holds (a failed
/// record's text is copied, failures being rare), so the writer thread can write it while the
/// next chunk is read and transformed.
#[derive(Default)]
struct Part {
    out: Vec<u8>,
    records: u64,
    documents: u64,
    dropped: u64,
    failed: Vec<Failed>,
    /// The document being made, when an action line has to be written before it.
    doc: Vec<u8>,
}

/// A record that became a `pipeline_error` document.
struct Failed {
    line: u64,
    error: String,
    /// The raw record, kept only when a dead-letter file is written.
    record: Option<Vec<u8>>,
}

impl Part {
    fn clear(&mut self) {
        self.out.clear();
        self.records = 0;
        self.documents = 0;
        self.dropped = 0;
        self.failed.clear();
    }
}

/// Turns one scanned item into its output lines (`index`: the `_bulk` action line's data stream).
struct Encoder<'a> {
    t: &'a Transformer,
    dataset: Dataset,
    reencode: bool,
    now: i64,
    index: Option<&'a str>,
    /// Keep failed records' text for the dead-letter file.
    keep_failed: bool,
}

impl Encoder<'_> {
    /// Appends the item's document (after its action line in `bulk` format) to the part's output;
    /// nothing for a dropped record (the empty audit API page).
    /// Invalid UTF-8 and records cut at the size limit go to the transform as error documents
    /// naming the reason; records cut short go to it as they are, which turns them into
    /// pipeline_error documents naming the JSON error.
    fn encode(&self, item: &Item<'_>, part: &mut Part) {
        part.records += 1;
        part.doc.clear();
        // Without an action line the document is written straight into the output.
        let target = if self.index.is_some() {
            &mut part.doc
        } else {
            &mut part.out
        };
        let mut error_id = String::new();
        let (id, error) = match (item.kind == Kind::Oversize, std::str::from_utf8(item.bytes)) {
            (false, Ok(text)) => {
                let info = if self.reencode {
                    self.t
                        .transform_collected_into(self.dataset, text, self.now, target)
                } else {
                    self.t.transform_into(self.dataset, text, self.now, target)
                };
                let Some(info) = info else {
                    part.dropped += 1;
                    return;
                };
                (Some(info.id), info.error)
            }
            (oversize, text) => {
                let reason = match text {
                    Err(e) if !oversize => {
                        format!("record at line {} is not valid UTF-8: {e}", item.line)
                    }
                    _ => format!(
                        "record at line {} is larger than {MAX_RECORD_BYTES} bytes: kept its first bytes",
                        item.line
                    ),
                };
                let d = self.t.error_document(
                    self.dataset,
                    &String::from_utf8_lossy(item.bytes),
                    &reason,
                    self.now,
                );
                target.extend_from_slice(d.source.as_bytes());
                error_id = d.id;
                (None, d.error)
            }
        };
        if let Some(index) = self.index {
            let id = id.as_ref().map_or(error_id.as_str(), |d| d.as_str());
            write_action(&mut part.out, index, id);
            part.out.extend_from_slice(&part.doc);
        }
        part.out.push(b'\n');
        part.documents += 1;
        if let Some(error) = error {
            part.failed.push(Failed {
                line: item.line,
                error,
                record: self.keep_failed.then(|| item.bytes.to_vec()),
            });
        }
    }
}

/// `{"create":{"_index":…,"_id":…}}` and its newline, straight into `out` (the strings escaped as
/// JSON).
fn write_action(out: &mut Vec<u8>, index: &str, id: &str) {
    out.extend_from_slice(b"{\"create\":{\"_index\":");
    write_str(out, index);
    out.extend_from_slice(b",\"_id\":");
    write_str(out, id);
    out.extend_from_slice(b"}}\n");
}

/// The shape a raw record has, by its top-level keys: Logpull (and Logpush http_requests) records
/// carry `RayID` / `EdgeStartTimestamp` / `ClientRequestHost`…, audit records `action` and `actor`
/// (v1 and v2 alike). `None`: neither (another Logpush dataset, or not an object).
fn shape_of(record: &[u8]) -> Option<Dataset> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(record).ok()?;
    const LOGPULL: &[&str] = &[
        "RayID",
        "EdgeStartTimestamp",
        "EdgeEndTimestamp",
        "ClientRequestHost",
        "ClientIP",
        "EdgeResponseStatus",
    ];
    if LOGPULL.iter().any(|k| v.contains_key(*k)) {
        return Some(Dataset::Logpull);
    }
    if v.contains_key("action") && v.contains_key("actor") {
        return Some(Dataset::Audit);
    }
    None
}

/// Records of the first chunk looked at for [`mismatch_warning`].
const SHAPE_SAMPLE: usize = 1000;

/// The warning when most records do not look like `dataset` (`transform --dataset logpull` on
/// audit records, or the reverse): `shapes` are the sampled records' [`shape_of`]. Only audit and
/// Logpull are told apart; other datasets are not judged.
fn mismatch_warning(dataset: Dataset, shapes: &[Option<Dataset>]) -> Option<String> {
    if !matches!(dataset, Dataset::Audit | Dataset::Logpull) || shapes.is_empty() {
        return None;
    }
    let alike = shapes.iter().filter(|s| **s == Some(dataset)).count();
    if alike * 2 >= shapes.len() {
        return None;
    }
    let other = if dataset == Dataset::Audit {
        Dataset::Logpull
    } else {
        Dataset::Audit
    };
    let like_other = shapes.iter().filter(|s| **s == Some(other)).count();
    let hint = if like_other * 2 > shapes.len() {
        format!(
            "they look like {} records: use --dataset {}",
            other.name(),
            other.name()
        )
    } else {
        "is --dataset right? (--list-datasets)".to_string()
    };
    Some(format!(
        "{} of the first {} records do not look like {} records: {hint}",
        shapes.len() - alike,
        shapes.len(),
        dataset.name()
    ))
}

/// The `--list-datasets` text: one line per dataset.
pub fn dataset_list() -> String {
    let mut out = String::new();
    for ds in Dataset::all() {
        let (cf, pkg) = match ds {
            Dataset::Audit => ("audit logs API (v1, v2)", "cloudflare 2.22".to_string()),
            Dataset::Logpull => ("Logpull http_requests", "cloudflare 2.22".to_string()),
            Dataset::Logpush(l) => {
                let spec = l.spec();
                let pkg = if l.is_elastic() {
                    format!("cloudflare_logpush {}", spec.version)
                } else {
                    format!(
                        "no Elastic pipeline: mapped onto {} (cloudflare_logpush {})",
                        spec.dataset, spec.version
                    )
                };
                (spec.cloudflare, pkg)
            }
        };
        out.push_str(&format!("{:<42} {:<32} {pkg}\n", ds.name(), cf));
    }
    out
}

pub fn run(args: TransformArgs) -> Result<Summary> {
    if args.list_datasets {
        io::stdout()
            .write_all(dataset_list().as_bytes())
            .context("writing the dataset list")?;
        return Ok(Summary::default());
    }
    let dataset: Dataset = args
        .dataset
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(anyhow::Error::msg)?;
    let geo = match &args.geoip_dir {
        Some(dir) => Some(Arc::new(GeoIp::open_dir(dir)?)),
        None => None,
    };
    let namespace = match (args.format, &args.namespace) {
        (_, Some(ns)) => Some(ns.clone()),
        (OutputFormat::Bulk, None) => Some("default".to_string()),
        (OutputFormat::Docs, None) => None,
    };
    let index = namespace.as_deref().map(|ns| dataset.data_stream(ns));
    let opts = Options {
        account_id: args.account_id.clone(),
        preserve_original: args.preserve_original,
        tags: args.tags.clone(),
        fix_upstream_bugs: args.fix_upstream_bugs,
        namespace,
        set_ingested: true,
        numbers: Numbers::agent_if(args.agent_numbers),
        logpull_requested: cfship_cloudflare::logpull::custom_field_set(
            args.fields.as_deref(),
            false,
        )
        .map(std::sync::Arc::new),
    };
    let t = Transformer::new(opts, geo)?;
    let reencode = args.reencode || args.agent_numbers;

    let input: Box<dyn Read> = if args.input == "-" {
        Box::new(io::stdin().lock())
    } else {
        let f = std::fs::File::open(&args.input)
            .with_context(|| format!("cannot open input {}", args.input))?;
        Box::new(f)
    };
    let output: Box<dyn Write + Send> = if args.output == "-" {
        Box::new(io::stdout())
    } else {
        let f = std::fs::File::create(&args.output)
            .with_context(|| format!("cannot create output {}", args.output))?;
        Box::new(f)
    };
    let mut out = BufWriter::with_capacity(1 << 16, output);
    let mut dead = match &args.dead_letter {
        Some(p) => Some(BufWriter::new(std::fs::File::create(p).with_context(
            || format!("cannot create dead-letter file {}", p.display()),
        )?)),
        None => None,
    };

    let threads = match args.threads {
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("transform-{i}"))
        .build()
        .context("starting the transform threads")?;
    let enc = Encoder {
        t: &t,
        dataset,
        reencode,
        now: now_ms(),
        index: index.as_deref(),
        keep_failed: dead.is_some(),
    };

    let mut s = Summary::default();
    let mut records = Reader::with_capacity(input, Mode::Lenient, MAX_RECORD_BYTES, READ_AHEAD);
    // Two sets of parts: while the writer thread writes one chunk's documents (and logs its
    // failures), the next chunk is read, scanned and transformed into the other set. Writing is a
    // fifth of the work (the kernel's copy into the page cache): done in line, it would idle every
    // transform thread meanwhile. Each part's buffer is reused from chunk to chunk.
    let new_set = || -> Vec<Part> {
        (0..threads * PARTS_PER_THREAD)
            .map(|_| Part::default())
            .collect()
    };
    let (to_writer, written) = std::sync::mpsc::sync_channel::<Vec<Part>>(1);
    let (give_back, free_sets) = std::sync::mpsc::sync_channel::<Vec<Part>>(2);
    give_back.send(new_set()).ok();
    give_back.send(new_set()).ok();
    let name = dataset.name();
    let event_dataset = dataset.event_dataset();
    std::thread::scope(|scope| -> Result<Summary> {
        let writer = std::thread::Builder::new()
            .name("transform-writer".into())
            .spawn_scoped(scope, move || -> Result<()> {
                for set in written {
                    for part in &set {
                        out.write_all(&part.out).context("writing output")?;
                        for f in &part.failed {
                            tracing::warn!(line = f.line, dataset = name, error = %f.error, "record failed the pipeline; written as a pipeline_error document");
                            if let (Some(dl), Some(record)) = (dead.as_mut(), &f.record) {
                                let rec = serde_json::json!({
                                    "line": f.line,
                                    "dataset": event_dataset,
                                    "error": f.error,
                                    "record": String::from_utf8_lossy(record),
                                });
                                serde_json::to_writer(&mut *dl, &rec)
                                    .context("writing dead-letter file")?;
                                dl.write_all(b"\n").context("writing dead-letter file")?;
                            }
                        }
                    }
                    // The reader side may be done already: a set nobody takes back is dropped.
                    let _ = give_back.send(set);
                }
                out.flush().context("writing output")?;
                if let Some(mut dl) = dead {
                    dl.flush().context("writing dead-letter file")?;
                }
                Ok(())
            })
            .context("starting the output writer")?;
        let produced = (|| -> Result<()> {
            loop {
                let chunk = records
                    .next_batch(CHUNK)
                    .with_context(|| format!("reading {}", args.input))?;
                if chunk.is_empty() {
                    return Ok(());
                }
                if s.records == 0 {
                    let shapes: Vec<Option<Dataset>> = (0..chunk.len().min(SHAPE_SAMPLE))
                        .map(|i| shape_of(chunk.get(i).bytes))
                        .collect();
                    if let Some(w) = mismatch_warning(dataset, &shapes) {
                        tracing::warn!("{w}");
                    }
                }
                // A set comes back once written; none means the writer stopped (an error).
                let Ok(mut parts) = free_sets.recv() else {
                    return Ok(());
                };
                let per = chunk.len().div_ceil(parts.len()).max(1);
                let chunk_ref = &chunk;
                let enc_ref = &enc;
                pool.install(|| {
                    parts.par_iter_mut().enumerate().for_each(|(p, part)| {
                        part.clear();
                        let from = (p * per).min(chunk_ref.len());
                        let to = ((p + 1) * per).min(chunk_ref.len());
                        for i in from..to {
                            enc_ref.encode(&chunk_ref.get(i), part);
                        }
                    })
                });
                for part in &parts {
                    s.records += part.records;
                    s.documents += part.documents;
                    s.dropped += part.dropped;
                    s.errors += part.failed.len() as u64;
                }
                if to_writer.send(parts).is_err() {
                    return Ok(());
                }
            }
        })();
        drop(to_writer);
        // The writer's error (a full disk) comes first: it is why the reader side stopped.
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("the output writer panicked"))??;
        produced?;
        Ok(s)
    })
}

#[cfg(test)]
mod shape_tests {
    use super::*;

    #[test]
    fn records_of_the_other_dataset_are_told() {
        let audit = br#"{"id":"x","action":{"type":"login"},"actor":{"email":"a@b.c"},"when":"2026-01-01T00:00:00Z"}"#;
        let logpull = br#"{"RayID":"r1","EdgeStartTimestamp":1,"ClientIP":"192.0.2.1"}"#;
        assert_eq!(shape_of(audit), Some(Dataset::Audit));
        assert_eq!(shape_of(logpull), Some(Dataset::Logpull));
        assert_eq!(shape_of(b"not json"), None);
        let audits = vec![Some(Dataset::Audit); 10];
        let w = mismatch_warning(Dataset::Logpull, &audits).unwrap();
        assert!(
            w.contains("10 of the first 10 records do not look like logpull records"),
            "{w}"
        );
        assert!(w.contains("use --dataset audit"), "{w}");
        assert!(mismatch_warning(Dataset::Audit, &audits).is_none());
        // mostly garbage: no guess at the other dataset
        let w = mismatch_warning(Dataset::Audit, &[None, None, Some(Dataset::Audit)]).unwrap();
        assert!(w.contains("is --dataset right?"), "{w}");
    }
}

#[cfg(test)]
mod action_tests {
    use super::write_action;

    /// The action line is `_index` then `_id` (as the Elasticsearch sink writes it), each string
    /// escaped as serde_json escapes it, for plain and odd strings alike.
    #[test]
    fn action_line_is_serde_jsons() {
        for (index, id) in [
            ("logs-cloudflare.logpull-default", "3q2+7w=="),
            ("logs-x\"y\\z-\u{1}", "id\nwith\tcontrol é"),
            ("", ""),
        ] {
            let mut out = Vec::new();
            write_action(&mut out, index, id);
            let want = format!(
                "{{\"create\":{{\"_index\":{},\"_id\":{}}}}}\n",
                serde_json::to_string(index).unwrap(),
                serde_json::to_string(id).unwrap()
            );
            assert_eq!(String::from_utf8(out.clone()).unwrap(), want);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v["create"]["_index"], index);
            assert_eq!(v["create"]["_id"], id);
        }
    }
}

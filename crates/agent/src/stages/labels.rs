//! `labels` (fields that become stream labels), `structured_metadata` (fields
//! sent as structured metadata, off the label set), `static_labels`,
//! `output` (the line becomes a field's value) and `route` (the outputs a
//! record goes to).
//!
//! `labels: {level: , kind: job_kind}` sets label `level` from field `level`
//! and label `kind` from field `job_kind`; a missing or empty field sets
//! nothing. Static label values come from the config, so
//! `static_labels: {cluster: "${CLUSTER_NAME:unknown}"}` enriches every
//! line from the environment as Logstash's `mutate { add_field }` does.

use std::collections::BTreeMap;

use serde::Deserialize;
use strata_model::Labels;

use super::{Reads, Record, Stage, Verdict};

#[derive(Debug)]
pub struct LabelsStage {
    /// (label or metadata name, field it comes from).
    names: Vec<(String, String)>,
    metadata: bool,
}

fn pairs(map: &BTreeMap<String, Option<String>>) -> anyhow::Result<Vec<(String, String)>> {
    let mut names = Vec::new();
    for (name, source) in map {
        if !strata_model::is_valid_label_name(name) || name.starts_with("__") {
            anyhow::bail!("{name:?} is not a valid label name");
        }
        names.push((name.clone(), source.clone().unwrap_or_else(|| name.clone())));
    }
    Ok(names)
}

impl LabelsStage {
    pub fn labels(map: &BTreeMap<String, Option<String>>) -> anyhow::Result<LabelsStage> {
        Ok(LabelsStage {
            names: pairs(map)?,
            metadata: false,
        })
    }

    pub fn metadata(map: &BTreeMap<String, Option<String>>) -> anyhow::Result<LabelsStage> {
        Ok(LabelsStage {
            names: pairs(map)?,
            metadata: true,
        })
    }
}

impl Stage for LabelsStage {
    fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict {
        for (name, source) in &self.names {
            // A field of the same name moves (later stages still find it:
            // lookups read labels and metadata too); others, and typed
            // fields (numbers for Elasticsearch), are copied.
            if name == source
                && !record.types.iter().any(|(typed, _)| typed == name)
                && let Some(pair) = record.take_field(name)
            {
                if !pair.1.is_empty() {
                    if self.metadata {
                        super::put(&mut record.metadata, pair);
                    } else {
                        super::put(&mut record.labels, pair);
                    }
                }
                continue;
            }
            let Some(value) = record
                .lookup(base, source)
                .filter(|value| !value.is_empty())
            else {
                continue;
            };
            let value = value.to_string();
            if self.metadata {
                record.set_metadata(name, value);
            } else {
                record.set_label(name, value);
            }
        }
        Verdict::Keep
    }

    fn reads(&self) -> Reads {
        Reads::of(self.names.iter().map(|(_, source)| source.clone()))
    }
}

#[derive(Debug)]
pub struct StaticLabelsStage {
    labels: Vec<(String, String)>,
}

impl StaticLabelsStage {
    pub fn new(map: &BTreeMap<String, String>) -> anyhow::Result<StaticLabelsStage> {
        for name in map.keys() {
            if !strata_model::is_valid_label_name(name) || name.starts_with("__") {
                anyhow::bail!("{name:?} is not a valid label name");
            }
        }
        Ok(StaticLabelsStage {
            labels: map.iter().map(|(n, v)| (n.clone(), v.clone())).collect(),
        })
    }
}

impl Stage for StaticLabelsStage {
    fn process(&mut self, record: &mut Record, _base: &Labels) -> Verdict {
        for (name, value) in &self.labels {
            record.set_label(name, value.clone());
        }
        Verdict::Keep
    }

    fn reads(&self) -> Reads {
        Reads::none()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// The field whose value becomes the line.
    pub source: String,
}

#[derive(Debug)]
pub struct OutputStage {
    source: String,
}

impl OutputStage {
    pub fn new(config: &OutputConfig) -> OutputStage {
        OutputStage {
            source: config.source.clone(),
        }
    }
}

impl Stage for OutputStage {
    fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict {
        if let Some(value) = record.lookup(base, &self.source) {
            record.line = value.to_string();
        }
        Verdict::Keep
    }

    fn reads(&self) -> Reads {
        Reads::of([self.source.clone()])
    }
}

#[derive(Debug)]
pub struct RouteStage {
    outputs: Vec<usize>,
}

impl RouteStage {
    pub fn new(names: &[String], outputs: &[String]) -> anyhow::Result<RouteStage> {
        let mut chosen = Vec::new();
        for name in names {
            let Some(index) = outputs.iter().position(|output| output == name) else {
                anyhow::bail!(
                    "no output is named {name:?} (outputs: {})",
                    outputs.join(", ")
                );
            };
            chosen.push(index);
        }
        Ok(RouteStage { outputs: chosen })
    }
}

impl Stage for RouteStage {
    fn process(&mut self, record: &mut Record, _base: &Labels) -> Verdict {
        record.outputs = Some(self.outputs.clone());
        Verdict::Keep
    }

    fn reads(&self) -> Reads {
        Reads::none()
    }
}

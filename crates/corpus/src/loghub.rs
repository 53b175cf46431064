//! The sixteen Loghub systems, replayed: each sample line becomes a
//! [`Template`]; each system runs a few instances (pods), and each instance
//! writes one stream per level its lines carry. A replayed line keeps the
//! sample's shape with a fresh timestamp in the system's own format, node
//! addresses from the cluster, ids from the instance's pools, and new digits.

use crate::clock::Civil;
use crate::level::Level;
use crate::rng::Rng;
use crate::template::{Template, TemplateSet};
use anyhow::Context;
use std::path::Path;

/// How one Loghub system is replayed.
#[derive(Debug, Clone, Copy)]
pub struct SystemSpec {
    /// File stem in the Loghub directory (`HDFS` for `HDFS_2k.log`).
    pub name: &'static str,
    pub namespace: &'static str,
    pub container: &'static str,
    pub job_type: &'static str,
    /// The leading timestamp, strftime-like (see [`crate::template::TimeField`];
    /// `%W` a word, `%*` any non-space run and `%N` a number, kept or renewed).
    pub format: &'static str,
    /// Index of the level word among the line's space-separated fields.
    pub level_field: Option<usize>,
    /// Pods running the system.
    pub instances: usize,
    /// Relative share of the Loghub bytes.
    pub weight: f64,
}

pub const SYSTEMS: [SystemSpec; 16] = [
    spec(
        "HDFS",
        "data-pipeline",
        "datanode",
        "",
        "%y%m%d %H%M%S ",
        Some(3),
        4,
        1.6,
    ),
    spec(
        "Hadoop",
        "data-pipeline",
        "mapreduce",
        "batch",
        "%Y-%m-%d %H:%M:%S,%3f ",
        Some(2),
        3,
        1.3,
    ),
    spec(
        "Spark",
        "data-pipeline",
        "executor",
        "batch",
        "%y/%m/%d %H:%M:%S ",
        Some(2),
        4,
        1.4,
    ),
    spec(
        "Zookeeper",
        "data-pipeline",
        "zookeeper",
        "",
        "%Y-%m-%d %H:%M:%S,%3f ",
        Some(3),
        3,
        0.8,
    ),
    spec(
        "OpenStack",
        "platform",
        "nova",
        "",
        "%W.log.1.%Y-%m-%d_%H:%M:%S %Y-%m-%d %H:%M:%S.%3f ",
        Some(4),
        3,
        1.2,
    ),
    spec(
        "BGL",
        "platform",
        "ras",
        "",
        "%W %s %Y.%m.%d %* %Y-%m-%d-%H.%M.%S.%6f ",
        Some(8),
        2,
        0.8,
    ),
    spec(
        "HPC",
        "platform",
        "hpc",
        "",
        "%N %* %* %* %s ",
        None,
        2,
        0.5,
    ),
    spec(
        "Thunderbird",
        "platform",
        "syslog",
        "",
        "%W %s %Y.%m.%d %* %b %-d %H:%M:%S ",
        None,
        2,
        0.8,
    ),
    spec(
        "Windows",
        "platform",
        "cbs",
        "",
        "%Y-%m-%d %H:%M:%S, ",
        Some(2),
        2,
        0.6,
    ),
    spec(
        "Linux",
        "platform",
        "syslog",
        "",
        "%b %e %H:%M:%S ",
        None,
        3,
        0.7,
    ),
    spec(
        "Mac",
        "platform",
        "syslog",
        "",
        "%b %e %H:%M:%S ",
        None,
        2,
        0.6,
    ),
    spec(
        "Android",
        "platform",
        "android",
        "",
        "%m-%d %H:%M:%S.%3f ",
        Some(4),
        3,
        0.9,
    ),
    spec(
        "HealthApp",
        "platform",
        "healthapp",
        "",
        "%Y%m%d-%-H:%-M:%-S:%L|",
        None,
        2,
        0.5,
    ),
    spec(
        "Apache",
        "platform",
        "httpd",
        "",
        "[%a %b %d %H:%M:%S %Y] ",
        Some(5),
        3,
        1.0,
    ),
    spec(
        "OpenSSH",
        "platform",
        "sshd",
        "",
        "%b %e %H:%M:%S ",
        None,
        3,
        1.0,
    ),
    spec(
        "Proxifier",
        "platform",
        "proxifier",
        "",
        "[%m.%d %H:%M:%S] ",
        None,
        2,
        0.4,
    ),
];

#[allow(clippy::too_many_arguments)]
const fn spec(
    name: &'static str,
    namespace: &'static str,
    container: &'static str,
    job_type: &'static str,
    format: &'static str,
    level_field: Option<usize>,
    instances: usize,
    weight: f64,
) -> SystemSpec {
    SystemSpec {
        name,
        namespace,
        container,
        job_type,
        format,
        level_field,
        instances,
        weight,
    }
}

/// A loaded system: its templates grouped by level.
#[derive(Debug)]
pub struct System {
    pub spec: SystemSpec,
    pub templates: TemplateSet,
    /// (level, templates of that level), in level order.
    pub by_level: Vec<(Level, Vec<Template>)>,
    /// Sample lines read.
    pub lines: usize,
}

/// One running instance of a system: its pools of ids.
#[derive(Debug)]
pub struct Instance {
    /// Value pools, indexed like the system's `pool_keys`.
    pools: Vec<Vec<u128>>,
}

/// All systems and their instances.
#[derive(Debug)]
pub struct Loghub {
    pub systems: Vec<System>,
    /// `instances[system][instance]`
    instances: Vec<Vec<Instance>>,
}

impl Loghub {
    /// Reads `<dir>/<name>_2k.log` for every system.
    pub fn load(dir: &Path) -> anyhow::Result<Loghub> {
        let mut systems = Vec::new();
        for spec in SYSTEMS {
            let path = dir.join(format!("{}_2k.log", spec.name));
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "cannot read Loghub sample {} (use --loghub DIR)",
                    path.display()
                )
            })?;
            systems.push(System::parse(spec, &text));
        }
        let instances = systems
            .iter()
            .map(|system| {
                (0..system.spec.instances)
                    .map(|_| Instance {
                        pools: vec![Vec::new(); system.templates.pool_keys.len()],
                    })
                    .collect()
            })
            .collect();
        Ok(Loghub { systems, instances })
    }

    /// Replays a random line of `level` from `system` as `instance` would write it.
    #[allow(clippy::too_many_arguments)]
    pub fn render(
        &mut self,
        system: usize,
        instance: usize,
        level: Level,
        civil: &Civil,
        ips: &[u32],
        rng: &mut Rng,
        out: &mut Vec<u8>,
    ) {
        let loaded = &self.systems[system];
        let Some((_, templates)) = loaded.by_level.iter().find(|(l, _)| *l == level) else {
            debug_assert!(false, "BUG: no {level:?} template in {}", loaded.spec.name);
            return;
        };
        let template = *rng.pick(templates);
        let pools = &mut self.instances[system][instance].pools;
        loaded
            .templates
            .render(template, civil, ips, pools, rng, out);
    }
}

impl System {
    fn parse(spec: SystemSpec, text: &str) -> System {
        let mut templates = TemplateSet::default();
        let mut by_level: Vec<(Level, Vec<Template>)> = Vec::new();
        let mut lines = 0;
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            lines += 1;
            let level = spec
                .level_field
                .and_then(|index| line.split(' ').filter(|w| !w.is_empty()).nth(index))
                .and_then(Level::from_word)
                .unwrap_or(Level::Info);
            let template = templates.add(line, spec.format);
            match by_level.iter_mut().find(|(l, _)| *l == level) {
                Some((_, list)) => list.push(template),
                None => by_level.push((level, vec![template])),
            }
        }
        by_level.sort_by_key(|(level, _)| *level);
        System {
            spec,
            templates,
            by_level,
            lines,
        }
    }

    /// The app label: the system name in lower case.
    pub fn app(&self) -> String {
        self.spec.name.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loghub_dir() -> std::path::PathBuf {
        crate::default_loghub_dir()
    }

    #[test]
    fn every_system_parses_with_its_format() {
        let loghub = Loghub::load(&loghub_dir()).expect("loghub samples");
        for system in &loghub.systems {
            assert!(system.lines >= 1000, "{}", system.spec.name);
            assert_eq!(system.templates.unmatched, 0, "{}", system.spec.name);
            let total: usize = system.by_level.iter().map(|(_, list)| list.len()).sum();
            assert_eq!(total, system.lines);
        }
        let hdfs = &loghub.systems[0];
        let levels: Vec<Level> = hdfs.by_level.iter().map(|(level, _)| *level).collect();
        assert_eq!(levels, vec![Level::Info, Level::Warn]);
    }
}

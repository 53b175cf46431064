//! Stage tests: each stage on sample records, and compiled from YAML.

use std::sync::Arc;

use strata_model::Labels;

use super::*;

fn compiled(yaml: &str) -> (Stages, Arc<MetricRegistry>) {
    let configs: Vec<StageConfig> = serde_saphyr::from_str(yaml).unwrap();
    let registry = Arc::new(MetricRegistry::default());
    let outputs = vec!["loki".to_string(), "archive".to_string()];
    let context = CompileContext {
        outputs: &outputs,
        metrics: &registry,
        stop: Default::default(),
    };
    let mut stages = compile(&configs, &context).unwrap();
    stages.set_wanted(Reads::All);
    (stages, registry)
}

fn error(yaml: &str) -> String {
    let configs: Vec<StageConfig> = match serde_saphyr::from_str(yaml) {
        Ok(configs) => configs,
        Err(err) => return err.to_string(),
    };
    let registry = Arc::new(MetricRegistry::default());
    let outputs = vec!["loki".to_string()];
    let context = CompileContext {
        outputs: &outputs,
        metrics: &registry,
        stop: Default::default(),
    };
    compile(&configs, &context).unwrap_err().to_string()
}

fn base() -> Labels {
    Labels::parse(r#"{job="training", filename="/var/log/train.log"}"#).unwrap()
}

fn field<'a>(record: &'a Record, name: &str) -> Option<&'a str> {
    find(&record.fields, name)
}

#[test]
fn regex_with_types_extracts_typed_fields() {
    let (mut stages, _) = compiled(
        r#"
- regex:
    expression: '^Epoch: (?<epoch>\d+), Loss: (?<loss>[\d.]+), Accuracy: (?<accuracy>[\d.]+)'
    types: {epoch: integer, loss: float, accuracy: float}
"#,
    );
    let mut record = Record::new(1, "Epoch: 12, Loss: 0.2345, Accuracy: 0.9512".into());
    assert_eq!(stages.process(&mut record, &base()), Verdict::Keep);
    assert_eq!(field(&record, "epoch"), Some("12"));
    assert_eq!(field(&record, "loss"), Some("0.2345"));
    assert_eq!(field(&record, "accuracy"), Some("0.9512"));
    let mut other = Record::new(1, "GPU 0: Utilization: 50%".into());
    assert_eq!(stages.process(&mut other, &base()), Verdict::Keep);
    assert!(other.fields.is_empty());
    assert!(error("- regex: {expression: '(?<a>x', types: {}}").contains("stages[0].regex"));
    assert!(error("- regex: {expression: 'x'}").contains("no named capture"));
    assert!(error("- regex: {expression: '(?<a>x)', types: {b: int}}").contains("types.b"));
    assert!(error("- regex: {expression: '(?<a>x)', types: {a: date}}").contains("types.a"));
}

#[test]
fn labels_metadata_static_labels_and_output() {
    let (mut stages, _) = compiled(
        r#"
- json: {}
- labels: {level: , kind: job_kind}
- structured_metadata: {trace_id: }
- static_labels: {cluster: gpu-east-1}
- output: {source: msg}
"#,
    );
    let mut record = Record::new(
        1,
        r#"{"level":"error","job_kind":"train","trace_id":"abc","msg":"oom"}"#.into(),
    );
    assert_eq!(stages.process(&mut record, &base()), Verdict::Keep);
    assert_eq!(
        record.stream(&base()).to_string(),
        r#"{cluster="gpu-east-1", filename="/var/log/train.log", job="training", kind="train", level="error"}"#
    );
    assert_eq!(
        record.metadata,
        [("trace_id".to_string(), "abc".to_string())]
    );
    assert_eq!(record.line, "oom");
    assert!(error("- labels: {'1x': }").contains("not a valid label name"));
}

#[test]
fn match_runs_sub_stages_or_drops() {
    let (mut stages, _) = compiled(
        r#"
- match:
    selector: '{job="training"} |= "Epoch"'
    stages:
      - regex: {expression: 'Epoch: (?P<epoch>\d+)'}
- match: {selector: '{job="training"} |~ "health ?check"', action: drop, drop_counter_reason: health}
"#,
    );
    let mut epoch = Record::new(1, "Epoch: 3".into());
    assert_eq!(stages.process(&mut epoch, &base()), Verdict::Keep);
    assert_eq!(field(&epoch, "epoch"), Some("3"));
    let mut health = Record::new(1, "GET /health check".into());
    assert_eq!(
        stages.process(&mut health, &base()),
        Verdict::Drop("health".into())
    );
    let other = Labels::parse(r#"{job="serving"}"#).unwrap();
    let mut serving = Record::new(1, "Epoch: 3 health check".into());
    assert_eq!(stages.process(&mut serving, &other), Verdict::Keep);
    assert!(serving.fields.is_empty());
    assert!(
        error("- match: {selector: '{a=\"b\"} | json', action: drop}")
            .contains("only line filters")
    );
    assert!(error("- match: {selector: '{a=\"b\"}', action: explode}").contains("action"));
}

#[test]
fn drop_by_expression_value_level_age_and_size() {
    let (mut stages, _) = compiled(
        r#"
- drop: {expression: '^DEBUG:'}
- logfmt: {}
- drop: {levels: [trace, Debug]}
- drop: {source: path, value: /healthz, drop_counter_reason: health}
- drop: {older_than: 1h}
- drop: {longer_than: 20B}
"#,
    );
    let now = crate::now_ns();
    let mut run = |line: &str, ts: i64| stages.process(&mut Record::new(ts, line.into()), &base());
    assert_eq!(run("DEBUG: x", now), Verdict::Drop("drop_stage".into()));
    assert_eq!(run("level=DEBUG", now), Verdict::Drop("drop_stage".into()));
    assert_eq!(run("path=/healthz", now), Verdict::Drop("health".into()));
    assert_eq!(
        run("level=info", now - 2 * 3_600_000_000_000),
        Verdict::Drop("drop_stage".into())
    );
    assert_eq!(
        run("level=info msg=\"a long line here\"", now),
        Verdict::Drop("drop_stage".into())
    );
    assert_eq!(run("level=info", now), Verdict::Keep);
}

#[test]
fn sample_keeps_every_error_and_about_a_tenth_of_info() {
    let (mut stages, _) = compiled(
        r#"
- logfmt: {}
- sample: {rates: {ERROR: 1, critical: 1, info: 0.1}, default_rate: 0}
"#,
    );
    let mut kept = [0u32; 3];
    for i in 0..10_000 {
        for (index, level) in ["error", "info", "debug"].iter().enumerate() {
            let mut record = Record::new(i, format!("level={level} n={i}"));
            if stages.process(&mut record, &base()) == Verdict::Keep {
                kept[index] += 1;
            }
        }
    }
    assert_eq!(kept[0], 10_000);
    assert!((800..1200).contains(&kept[1]), "{kept:?}");
    assert_eq!(kept[2], 0);
    // The same line at the same time gets the same decision (crash replay).
    let decide = |stages: &mut Stages| {
        (0..100)
            .map(|i| stages.process(&mut Record::new(i, format!("level=info n={i}")), &base()))
            .collect::<Vec<_>>()
    };
    assert_eq!(decide(&mut stages), decide(&mut stages));
}

#[test]
fn dedupe_drops_repeats_within_the_window() {
    let (mut stages, _) = compiled("- dedupe: {window: 10s, max_entries: 100}\n");
    let second = 1_000_000_000;
    let mut run = |line: &str, ts: i64| stages.process(&mut Record::new(ts, line.into()), &base());
    assert_eq!(run("crash loop", 0), Verdict::Keep);
    assert_eq!(
        run("crash loop", 5 * second),
        Verdict::Drop("duplicate".into())
    );
    assert_eq!(run("other", 6 * second), Verdict::Keep);
    assert_eq!(run("crash loop", 20 * second), Verdict::Keep);
}

#[test]
fn limit_drops_past_the_rate() {
    let (mut stages, _) = compiled("- limit: {rate: 5, burst: 10, drop: true}\n");
    let kept = (0..100)
        .filter(|i| stages.process(&mut Record::new(*i, "x".into()), &base()) == Verdict::Keep)
        .count();
    assert!((10..=12).contains(&kept), "{kept}");
    let (mut per_pod, _) =
        compiled("- limit: {rate: 1, burst: 2, drop: true, by_label_name: pod}\n- logfmt: {}\n");
    let kept = (0..20)
        .filter(|i| {
            let line = format!("pod=p{}", i % 2);
            let mut record = Record::new(*i, line.clone());
            record.set_field("pod", format!("p{}", i % 2));
            per_pod.process(&mut record, &base()) == Verdict::Keep
        })
        .count();
    assert!((4..=5).contains(&kept), "{kept}");
}

#[test]
fn redact_replaces_secrets_and_personal_data() {
    let (mut stages, _) = compiled(
        r#"
- redact:
    builtin: [email, ip, bearer, api_key, credit_card, jwt]
    patterns: [{name: user, regex: 'user_id=(?P<secret>\d+)'}]
"#,
    );
    let mut record = Record::new(
        1,
        "login alice@example.com from 10.1.2.3 and 2001:db8::1 Authorization: Bearer abc.def-123 api_key=sk_live_42 card 4111 1111 1111 1111 order 1234567890123 user_id=77".into(),
    );
    record.set_field("email", "bob@example.org".into());
    assert_eq!(stages.process(&mut record, &base()), Verdict::Keep);
    assert_eq!(
        record.line,
        "login <redacted:email> from <redacted:ipv4> and <redacted:ipv6> Authorization: Bearer <redacted:bearer> api_key=<redacted:api_key> card <redacted:credit_card> order 1234567890123 user_id=<redacted:user>"
    );
    assert_eq!(field(&record, "email"), Some("<redacted:email>"));
    assert!(redact::luhn("4111-1111-1111-1111"));
    assert!(!redact::luhn("4111-1111-1111-1112"));
    assert!(error("- redact: {builtin: [ssn]}").contains("ssn"));
}

#[test]
fn metrics_are_rendered_in_prometheus_text() {
    let (mut stages, registry) = compiled(
        r#"
- regex: {expression: 'Loss: (?P<loss>[\d.]+), Accuracy: (?P<accuracy>[\d.]+)'}
- metrics:
    training_loss: {type: Gauge, description: Training loss, source: loss, config: {action: set}}
    training_accuracy: {type: gauge, source: accuracy, config: {action: set}}
    lines: {type: counter, config: {match_all: true}}
    line_bytes: {type: counter, config: {match_all: true, count_entry_bytes: true}}
    loss_hist: {type: histogram, source: loss, config: {buckets: [0.1, 0.5, 1]}}
"#,
    );
    for line in [
        "Loss: 0.9, Accuracy: 0.5",
        "Loss: 0.3, Accuracy: 0.8",
        "no numbers",
    ] {
        stages.process(&mut Record::new(1, line.into()), &base());
    }
    let text = registry.render();
    let labels = r#"filename="/var/log/train.log",job="training""#;
    for expected in [
        "# TYPE strata_agent_custom_training_loss gauge".to_string(),
        format!("strata_agent_custom_training_loss{{{labels}}} 0.3"),
        format!("strata_agent_custom_training_accuracy{{{labels}}} 0.8"),
        format!("strata_agent_custom_lines{{{labels}}} 3"),
        format!("strata_agent_custom_line_bytes{{{labels}}} 58"),
        format!("strata_agent_custom_loss_hist_bucket{{{labels},le=\"0.5\"}} 1"),
        format!("strata_agent_custom_loss_hist_bucket{{{labels},le=\"1\"}} 2"),
        format!("strata_agent_custom_loss_hist_count{{{labels}}} 2"),
    ] {
        assert!(text.contains(&expected), "{expected} not in\n{text}");
    }
    assert!(error("- metrics: {x: {type: gauge}}").contains("needs an action"));
    assert!(error("- metrics: {x: {type: summary}}").contains("summary"));
}

#[test]
fn route_chooses_outputs_and_unknown_stages_are_named() {
    let (mut stages, _) = compiled("- route: [archive]\n");
    let mut record = Record::new(1, "x".into());
    stages.process(&mut record, &base());
    assert_eq!(record.outputs, Some(vec![1]));
    assert!(error("- route: [nowhere]\n").contains("nowhere"));
    assert!(error("- jsonn: {}\n").contains("jsonn"));
    assert!(error("- json: {expresions: {}}\n").contains("expresions"));
}

#[test]
fn template_and_line_format_use_the_servers_templates() {
    let (mut stages, _) = compiled(
        r#"
- logfmt: {}
- template: {source: level, template: '{{ .level | ToUpper }}'}
- line_format: '{{.level}}: {{.msg}}'
"#,
    );
    let mut record = Record::new(1, "level=warn msg=hot".into());
    assert_eq!(stages.process(&mut record, &base()), Verdict::Keep);
    assert_eq!(record.line, "WARN: hot");
}

#[test]
fn grok_runs_the_lectures_logstash_patterns_with_types() {
    let (mut stages, _) = compiled(
        r#"
- grok:
    match:
      - 'Epoch: %{NUMBER:epoch:int}, Loss: %{NUMBER:loss:float}, Accuracy: %{NUMBER:accuracy:float}'
      - 'GPU %{NUMBER:gpu_id:int}: Utilization: %{NUMBER:gpu_util:float}%, Memory: %{NUMBER:gpu_mem:float}GB'
- grok:
    match: '%{MODEL}'
    pattern_definitions: {MODEL: 'Model: %{WORD:model_name}'}
"#,
    );
    let mut epoch = Record::new(1, "Epoch: 12, Loss: 0.2345, Accuracy: 0.9512".into());
    stages.process(&mut epoch, &base());
    assert_eq!(field(&epoch, "epoch"), Some("12"));
    let json = epoch.fields_json();
    assert_eq!(json["epoch"], 12);
    assert_eq!(json["loss"], 0.2345);
    let mut gpu = Record::new(1, "GPU 3: Utilization: 87.5%, Memory: 31.2GB".into());
    stages.process(&mut gpu, &base());
    assert_eq!(gpu.fields_json()["gpu_util"], 87.5);
    let mut model = Record::new(1, "Prediction request - Model: resnet50".into());
    stages.process(&mut model, &base());
    assert_eq!(field(&model, "model_name"), Some("resnet50"));
    assert!(error("- grok: {match: '%{NOPE:x}'}").contains("NOPE"));
}

#[test]
fn timestamp_sets_the_record_time_or_fails_as_told() {
    let (mut stages, _) = compiled(
        r#"
- logfmt: {}
- timestamp: {source: ts, format: RFC3339, fallback_formats: [UnixMs, '%d/%b/%Y:%H:%M:%S %z']}
"#,
    );
    let mut run = |line: &str| {
        let mut record = Record::new(7, line.into());
        stages.process(&mut record, &base());
        record.ts_ns
    };
    assert_eq!(run("ts=2024-01-15T10:30:00.5Z"), 1_705_314_600_500_000_000);
    assert_eq!(run("ts=1705314600500"), 1_705_314_600_500_000_000);
    assert_eq!(
        run("ts=\"15/Jan/2024:11:30:00 +0100\""),
        1_705_314_600_000_000_000
    );
    assert_eq!(run("ts=garbage"), 7);
    let (mut dropping, _) = compiled(
        "- logfmt: {}\n- timestamp: {source: ts, format: 'yyyy-MM-dd HH:mm:ss,SSS', location: Europe/Paris, action_on_failure: drop}\n",
    );
    let mut record = Record::new(7, "ts=\"2024-01-15 11:30:00,250\"".into());
    assert_eq!(dropping.process(&mut record, &base()), Verdict::Keep);
    assert_eq!(record.ts_ns, 1_705_314_600_250_000_000);
    assert_eq!(
        dropping.process(&mut Record::new(7, "ts=nope".into()), &base()),
        Verdict::Drop("timestamp".into())
    );
    assert!(
        error("- timestamp: {source: ts, format: RFC3339, location: Mars/Olympus}")
            .contains("location")
    );
}

#[test]
fn sampling_spreads_evenly_whatever_the_times() {
    let (mut stages, _) = compiled(
        "- regex: {expression: '^(?P<level>[A-Z]+):'}\n- sample: {rates: {INFO: 0.1}, default_rate: 1}\n",
    );
    // 200 runs of 1,000 lines with consecutive times, as a file read gives
    // them: each run keeps 100 on average with a spread of about 9.5.
    let mut worst = 0i64;
    for run in 0..200i64 {
        let start = 1_795_820_000_000_000_000 + run * 7_919_000_003;
        let kept = (0..1000i64)
            .filter(|i| {
                let mut record =
                    Record::new(start + 3 * i + 1, format!("INFO: request {i} served"));
                stages.process(&mut record, &base()) == Verdict::Keep
            })
            .count() as i64;
        worst = worst.max((kept - 100).abs());
    }
    assert!(worst <= 40, "a run kept {worst} lines away from 100");
}

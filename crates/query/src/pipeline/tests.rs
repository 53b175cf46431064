//! Table tests of whole pipelines: one closure per stage kind, called per case.

use proptest::prelude::*;
use strata_logql::{LineFilter, LineFilterOp, Stage, parse_log_expr};
use strata_model::Labels;
use strata_model::tokens::for_each_token;

use super::{Pipeline, line_token_hints};

const STREAM: &str = r#"{app="api", env="prod"}"#;

fn pipeline(query_stages: &str) -> Pipeline {
    let query = format!("{STREAM} {query_stages}");
    let log = parse_log_expr(&query).unwrap_or_else(|err| panic!("{query}: {err}"));
    Pipeline::new(&log.stages).unwrap_or_else(|err| panic!("{query}: {err}"))
}

/// Runs `line` through `stages`; None when dropped, else (line, labels).
fn run_with(stages: &str, line: &str, metadata: &[(&str, &str)]) -> Option<(String, String)> {
    let stream = Labels::parse(STREAM).unwrap();
    let processed = pipeline(stages).process(1_700_000_000_000_000_000, line, &stream, metadata)?;
    Some((processed.line, processed.labels.to_string()))
}

/// Checks the labels of the result, given as the label string without the stream labels.
fn check_labels(stages: &str, line: &str, expected: Option<&str>) {
    let got = run_with(stages, line, &[]).map(|(_, labels)| labels);
    let expected = expected.map(|extra| {
        let extra = Labels::parse(&format!("{{{extra}}}")).unwrap();
        let mut pairs = Labels::parse(STREAM).unwrap().into_pairs();
        pairs.extend(extra.into_pairs());
        Labels::from_pairs(pairs).to_string()
    });
    assert_eq!(got, expected, "{stages} on {line:?}");
}

fn check_line(stages: &str, line: &str, expected: Option<&str>) {
    let got = run_with(stages, line, &[]).map(|(line, _)| line);
    assert_eq!(got.as_deref(), expected, "{stages} on {line:?}");
}

#[test]
fn line_filters() {
    let case = |stages: &str, line: &str, kept: bool| {
        let compiled = pipeline(stages);
        assert!(compiled.is_line_filter_only());
        assert_eq!(compiled.matches_line(line), kept, "{stages} on {line:?}");
        let stream = Labels::parse(STREAM).unwrap();
        assert_eq!(
            compiled.process(0, line, &stream, &[]).is_some(),
            kept,
            "{stages} on {line:?}"
        );
    };
    case(r#"|= "error""#, "an error", true);
    case(r#"|= "error" != "timeout""#, "error: timeout", false);
    case(r#"|= "a" or "b""#, "xbx", true);
    case(r#"|= "a" or "b""#, "xcx", false);
    case(r#"!= "a" or "b""#, "xbx", false);
    case(r#"!= "a" or "b""#, "xcx", true);
    case(r#"|~ "err(or)?\\s\\d+""#, "got error 42", true);
    case(r#"!~ "^debug""#, "debug: x", false);
    case(r#"|> "<_> status=<_> <_>""#, "GET status=200 ok", true);
    case(r#"|= ip("10.0.0.0/8")"#, "from 10.1.2.3 ok", true);
    case(
        r#"!= ip("10.0.0.0/8") or ip("::1")"#,
        "from 10.1.2.3 ok",
        false,
    );
    case(
        r#"!= ip("10.0.0.0/8") or ip("::1")"#,
        "from 11.1.2.3 ok",
        true,
    );
    case("", "anything", true);
}

#[test]
fn json_parser() {
    let case =
        |stages: &str, line: &str, expected: Option<&str>| check_labels(stages, line, expected);
    case(
        "| json",
        r#"{"level":"info","n":1.50,"ok":true,"nil":null}"#,
        Some(r#"level="info", n="1.50", ok="true""#),
    );
    case(
        "| json",
        r#"{"a":{"b":{"c":"deep"}},"list":[1,2]}"#,
        Some(r#"a_b_c="deep""#),
    );
    case(
        "| json",
        r#"{"app":"other","x-y.z":"v","1st":"w"}"#,
        Some(r#"app_extracted="other", x_y_z="v", _1st="w""#),
    );
    case(
        "| json",
        "not json",
        Some(
            r#"__error__="JSONParserErr", __error_details__="cannot parse JSON at byte 0: unexpected character""#,
        ),
    );
    case("| json | __error__=\"\"", "not json", None);
    case("| json | __error__!=\"\"", r#"{"a":"1"}"#, None);
    case("| json | drop __error__, __error_details__", "{", Some(""));
    case(
        r#"| json first="servers[0]", ua="request.headers[\"User-Agent\"]", h="request.headers""#,
        r#"{"servers":["s1","s2"],"request":{"headers":{"User-Agent":"curl"}}}"#,
        Some(r#"first="s1", ua="curl", h="{\"User-Agent\":\"curl\"}""#),
    );
    case(
        "| json level, missing",
        r#"{"level":"warn","x":"y"}"#,
        Some(r#"level="warn""#),
    );
    case(
        "| json",
        r#"{"s":"q\"uote\u00e9"}"#,
        Some(r#"s="q\"uoteé""#),
    );
}

/// `| json` with a wanted set gives the labels it would give without one,
/// restricted to the wanted names (a stream label's name included, which
/// comes out as `<name>_extracted`); on a line a stage rewrote too.
#[test]
fn json_with_wanted_labels() {
    let stream = Labels::parse(STREAM).unwrap();
    let metadata = [("trace_id", "t0")];
    let wanted = ["level", "app", "trace_id", "a_b", "x_y", "_1st", "s"];
    for (stages, line) in [
        (
            "| json",
            r#"{"level":"warn","app":"other","trace_id":"t1","a":{"b":2,"c":3},"x.y":"z","1st":true,"s":"q\"é","n":null}"#,
        ),
        (
            "| json",
            r#"{"level":"info","level":"error","a":{"b":{"c":1}}}"#,
        ),
        ("| json", r#"{"level":"info","a":[1,{"b":2}],"bad":tru}"#),
        ("| json", "not json"),
        (
            r#"| line_format "{\"level\":\"{{.app}}\",\"s\":\"\\u00e9\"}" | json"#,
            "x",
        ),
    ] {
        let expr = parse_log_expr(&format!("{STREAM} {stages}")).unwrap();
        let all = Pipeline::new(&expr.stages).unwrap();
        let some = Pipeline::with_wanted_labels(
            &expr.stages,
            Some(wanted.iter().map(|name| name.to_string()).collect()),
        )
        .unwrap();
        let all = all.process(0, line, &stream, &metadata).unwrap();
        let some = some.process(0, line, &stream, &metadata).unwrap();
        let expected: Vec<(String, String)> = all
            .labels
            .pairs()
            .iter()
            .filter(|(name, _)| {
                let base = name.strip_suffix("_extracted").unwrap_or(name);
                wanted.contains(&base)
                    || stream.get(name).is_some()
                    || name == "trace_id"
                    || name.starts_with("__error")
            })
            .cloned()
            .collect();
        assert_eq!(some.labels.pairs(), &expected[..], "{stages} on {line}");
        assert_eq!(some.line, all.line);
    }
    let rewritten = pipeline(r#"| line_format "{\"level\":\"{{.app}}\"}" | json"#)
        .process(0, "x", &stream, &[])
        .unwrap();
    assert_eq!(
        rewritten.labels.to_string(),
        r#"{app="api", env="prod", level="api"}"#
    );
}

#[test]
fn logfmt_parser() {
    let case =
        |stages: &str, line: &str, expected: Option<&str>| check_labels(stages, line, expected);
    case(
        "| logfmt",
        r#"level=info msg="hello world" dur=1.5s"#,
        Some(r#"level="info", msg="hello world", dur="1.5s""#),
    );
    case(
        "| logfmt",
        "app=x =bad ok=1",
        Some(r#"app_extracted="x", ok="1""#),
    );
    case(
        "| logfmt --strict",
        "a=1 =bad b=2",
        Some(
            r#"a="1", __error__="LogfmtParserErr", __error_details__="logfmt syntax error at pos 4: unexpected '=' or '\"' without a key""#,
        ),
    );
    case("| logfmt --strict | __error__=\"\"", "a=1 =bad", None);
    case(
        "| logfmt lvl=\"level\"",
        "level=warn other=x",
        Some(r#"lvl="warn""#),
    );
    case("| logfmt", "standalone a=", Some(""));
}

#[test]
fn regexp_and_pattern_parsers() {
    let case =
        |stages: &str, line: &str, expected: Option<&str>| check_labels(stages, line, expected);
    case(
        r#"| regexp "(?P<method>\\w+) (?P<path>\\S+) (?P<status>\\d+)""#,
        "GET /x 200",
        Some(r#"method="GET", path="/x", status="200""#),
    );
    case(
        r#"| regexp "(?P<method>\\w+) (?P<path>\\S+)""#,
        "",
        Some(""),
    );
    case(
        r#"| regexp "(?P<app>\\w+)""#,
        "word",
        Some(r#"app_extracted="word""#),
    );
    case(
        r#"| pattern "<ip> - <_> \"<method> <uri>\" <status>""#,
        r#"1.2.3.4 - x "GET /a" 500"#,
        Some(r#"ip="1.2.3.4", method="GET", uri="/a", status="500""#),
    );
    case(r#"| pattern "<a> <b>""#, "single", Some(""));
}

#[test]
fn unpack_and_decolorize() {
    check_line(
        "| unpack",
        r#"{"_entry":"original line","pod":"p1"}"#,
        Some("original line"),
    );
    check_labels(
        "| unpack",
        r#"{"_entry":"original line","pod":"p1","n":1}"#,
        Some(r#"pod="p1""#),
    );
    check_labels(
        "| unpack",
        "plain",
        Some(
            r#"__error__="JSONParserErr", __error_details__="cannot parse JSON at byte 0: unexpected character""#,
        ),
    );
    check_line("| decolorize", "\x1b[31mred\x1b[0m text", Some("red text"));
}

#[test]
fn label_filters() {
    let case =
        |stages: &str, line: &str, expected: Option<&str>| check_labels(stages, line, expected);
    case(
        "| logfmt | status >= 400",
        "status=500",
        Some(r#"status="500""#),
    );
    case("| logfmt | status >= 400", "status=200", None);
    case(
        "| logfmt | status == 200.0",
        "status=200",
        Some(r#"status="200""#),
    );
    case("| logfmt | status != 200", "other=1", Some(r#"other="1""#));
    case("| logfmt | status > 1", "other=1", None);
    case(
        "| logfmt | status > 1",
        "status=abc",
        Some(
            r#"status="abc", __error__="LabelFilterErr", __error_details__="cannot parse value \"abc\" of label \"status\" for comparison""#,
        ),
    );
    case("| logfmt | status > 1 | __error__=\"\"", "status=abc", None);
    case(
        "| logfmt | took > 1s",
        "took=1500ms",
        Some(r#"took="1500ms""#),
    );
    case("| logfmt | took > 1s", "took=999ms", None);
    case("| logfmt | size > 1KB", "size=2kb", Some(r#"size="2kb""#));
    case("| logfmt | size <= 1KiB", "size=1025", None);
    case(
        r#"| logfmt | level="error" or level="warn""#,
        "level=warn",
        Some(r#"level="warn""#),
    );
    case(
        r#"| logfmt | level="error" or level="warn" and code > 500"#,
        "level=warn code=400",
        None,
    );
    case(
        r#"| logfmt | level=~"err.*", code >= 500"#,
        "level=error code=503",
        Some(r#"level="error", code="503""#),
    );
    case(r#"| logfmt | level!~"debug|info""#, "level=info", None);
    case(r#"| app="api""#, "x", Some(""));
    case(
        r#"| logfmt | addr = ip("10.0.0.0/8")"#,
        "addr=10.9.9.9",
        Some(r#"addr="10.9.9.9""#),
    );
    case(
        r#"| logfmt | addr != ip("10.0.0.0/8")"#,
        "addr=10.9.9.9",
        None,
    );
    case(r#"| logfmt | addr = ip("10.0.0.0/8")"#, "addr=nope", None);
    case(r#"| missing="""#, "x", Some(""));
    case(
        r#"| json | n > 1"#,
        "oops",
        Some(
            r#"__error__="JSONParserErr", __error_details__="cannot parse JSON at byte 0: unexpected character""#,
        ),
    );
}

#[test]
fn formatting_stages() {
    check_line(
        r#"| logfmt | line_format "{{.pod}}: {{.message}}""#,
        "pod=p1 message=oom",
        Some("p1: oom"),
    );
    check_line(
        r#"| line_format "{{.app | ToUpper}} {{__line__}}""#,
        "raw",
        Some("API raw"),
    );
    check_line(
        r#"| line_format "{{ __timestamp__ | unixEpoch }}""#,
        "raw",
        Some("1700000000"),
    );
    check_line(r#"| line_format "{{ sub 1 }}""#, "raw", Some("raw"));
    check_labels(
        r#"| line_format "{{ sub 1 }}""#,
        "raw",
        Some(
            r#"__error__="TemplateFormatErr", __error_details__="wrong number of args for sub: want 2 got 1""#,
        ),
    );
    check_line(r#"| line_format "x" |= "x""#, "raw", Some("x"));
    check_line(r#"| line_format "x" |= "raw""#, "raw", None);
    check_labels(
        r#"| logfmt | label_format lvl=level"#,
        "level=info",
        Some(r#"lvl="info""#),
    );
    check_labels(
        r#"| logfmt | label_format both="{{.a}}-{{.b}}", a=b"#,
        "a=1 b=2",
        Some(r#"a="2", both="1-2""#),
    );
}

#[test]
fn label_format_renaming_a_stream_label_removes_it() {
    let stream = Labels::parse(STREAM).unwrap();
    let processed = pipeline("| label_format application=app")
        .process(0, "x", &stream, &[])
        .unwrap();
    assert_eq!(
        processed.labels.to_string(),
        r#"{application="api", env="prod"}"#
    );
    assert_eq!(
        processed.parsed,
        [("application".to_string(), "api".to_string())]
    );
}

#[test]
fn drop_and_keep() {
    let case = |stages: &str, line: &str, expected: &str| {
        let got = run_with(stages, line, &[]).map(|(_, labels)| labels);
        assert_eq!(got.as_deref(), Some(expected), "{stages}");
    };
    case("| logfmt | drop a, env", "a=1 b=2", r#"{app="api", b="2"}"#);
    case(
        r#"| logfmt | drop a="1", b="3""#,
        "a=1 b=2",
        r#"{app="api", b="2", env="prod"}"#,
    );
    case("| logfmt | keep a, app", "a=1 b=2", r#"{a="1", app="api"}"#);
    case(r#"| logfmt | keep a="2", b"#, "a=1 b=2", r#"{b="2"}"#);
    case(
        "| json | keep a",
        "bad",
        r#"{__error__="JSONParserErr", __error_details__="cannot parse JSON at byte 0: unexpected character"}"#,
    );
}

#[test]
fn metadata_and_categories() {
    let stream = Labels::parse(STREAM).unwrap();
    let metadata = [("trace_id", "t1"), ("empty", "")];
    let filter_only = pipeline(r#"|= "x""#)
        .process(0, "x", &stream, &metadata)
        .unwrap();
    assert_eq!(
        filter_only.labels.to_string(),
        r#"{app="api", env="prod", trace_id="t1"}"#
    );
    assert_eq!(
        filter_only.structured_metadata,
        [("trace_id".to_string(), "t1".to_string())]
    );
    assert!(filter_only.parsed.is_empty());
    let parsed = pipeline(r#"| logfmt | trace_id="t1""#)
        .process(0, "trace_id=t2 k=v", &stream, &metadata)
        .unwrap();
    assert_eq!(
        parsed.labels.to_string(),
        r#"{app="api", env="prod", k="v", trace_id="t1", trace_id_extracted="t2"}"#
    );
    assert_eq!(
        parsed.structured_metadata,
        [("trace_id".to_string(), "t1".to_string())]
    );
    assert_eq!(
        parsed.parsed,
        [
            ("k".to_string(), "v".to_string()),
            ("trace_id_extracted".to_string(), "t2".to_string())
        ]
    );
}

#[test]
fn unwrap_values() {
    let case = |stages: &str, line: &str, value: Option<f64>, labels: &str| {
        let expr =
            strata_logql::parse_expr(&format!("sum_over_time({STREAM} {stages} [1m])")).unwrap();
        let strata_logql::Expr::Metric(strata_logql::MetricExpr::Range(range)) = expr else {
            panic!("{stages}")
        };
        let compiled = Pipeline::new(&range.log.stages).unwrap();
        let stream = Labels::parse(STREAM).unwrap();
        let processed = compiled.process(0, line, &stream, &[]).unwrap();
        assert_eq!(processed.value, value, "{stages} on {line}");
        assert_eq!(processed.labels.to_string(), labels, "{stages} on {line}");
    };
    case(
        "| logfmt | unwrap n",
        "n=2.5 k=v",
        Some(2.5),
        r#"{app="api", env="prod", k="v"}"#,
    );
    case(
        "| logfmt | unwrap duration(d)",
        "d=1m30s",
        Some(90.0),
        r#"{app="api", env="prod"}"#,
    );
    case(
        "| logfmt | unwrap bytes(b)",
        "b=2KiB",
        Some(2048.0),
        r#"{app="api", env="prod"}"#,
    );
    case(
        "| logfmt | unwrap n",
        "n=x",
        None,
        r#"{__error__="SampleExtractionErr", __error_details__="cannot convert value \"x\" of label \"n\" to a number", app="api", env="prod"}"#,
    );
}

#[test]
fn compile_errors() {
    let case = |query: &str| {
        let log = parse_log_expr(query).unwrap();
        assert!(Pipeline::new(&log.stages).is_err(), "{query}");
    };
    case(r#"{a="b"} | pattern "<a><b>""#);
    case(r#"{a="b"} | pattern "no captures""#);
    case(r#"{a="b"} | line_format "{{ .x""#);
    case(r#"{a="b"} | line_format "{{ nosuch .x }}""#);
    case(r#"{a="b"} | label_format x="{{ if }}""#);
    case(r#"{a="b"} | label_format x=a, x=b"#);
    case(r#"{a="b"} | json x="a..b""#);
    case(r#"{a="b"} | regexp "(\\w+)""#);
    case(r#"{a="b"} |= ip("300.1.1.1")"#);
    case(r#"{a="b"} | x = ip("1.1.1.1/40")"#);
}

#[test]
fn token_hints() {
    let case = |stages: &str, expected: &[&[&[&str]]]| {
        let log = parse_log_expr(&format!("{STREAM} {stages}")).unwrap();
        let got = line_token_hints(&log.stages);
        let expected: Vec<Vec<Vec<String>>> = expected
            .iter()
            .map(|clause| {
                clause
                    .iter()
                    .map(|alt| alt.iter().map(|t| t.to_string()).collect())
                    .collect()
            })
            .collect();
        assert_eq!(got, expected, "{stages}");
    };
    case(r#"|= "abc""#, &[]);
    case(r#"|= " user=bob ""#, &[&[&["user", "bob"]]]);
    case(r#"|= " a " or " b c ""#, &[&[&["a"], &["b", "c"]]]);
    case(r#"|= " a " or "b""#, &[]);
    case(r#"!= " a " |~ " b ""#, &[]);
    case(r#"|= " a " | line_format "x" |= " b ""#, &[&[&["a"]]]);
    case(r#"| json |= " a " | decolorize |= " b ""#, &[&[&["a"]]]);
}

fn naive_matches(filters: &[LineFilter], line: &str) -> bool {
    filters.iter().all(|filter| {
        let any = filter
            .values
            .iter()
            .any(|value| line.contains(value.as_str()));
        any != filter.op.is_negative()
    })
}

fn arb_filters() -> impl Strategy<Value = Vec<LineFilter>> {
    let filter = (any::<bool>(), proptest::collection::vec("[ab ]{0,3}", 1..3)).prop_map(
        |(negative, values)| LineFilter {
            op: if negative {
                LineFilterOp::NotContains
            } else {
                LineFilterOp::Contains
            },
            values,
        },
    );
    proptest::collection::vec(filter, 0..4)
}

proptest! {
    /// matches_line equals a naive str::contains evaluation.
    #[test]
    fn matches_line_is_naive_contains(filters in arb_filters(), line in "[ab c]{0,12}") {
        let stages: Vec<Stage> = filters.iter().cloned().map(Stage::LineFilter).collect();
        let compiled = Pipeline::new(&stages).unwrap();
        prop_assert_eq!(compiled.matches_line(&line), naive_matches(&filters, &line));
    }

    /// A line passing the filters holds, for every hint clause, all tokens of some alternative.
    #[test]
    fn hints_never_prune_a_matching_line(
        filters in arb_filters(),
        picks in proptest::collection::vec(any::<usize>(), 4),
        glue in proptest::collection::vec("[ab c]{0,3}", 5),
    ) {
        // Build a line from one value of each positive filter, so that most lines match.
        let mut line = glue[0].clone();
        for (index, filter) in filters.iter().filter(|filter| !filter.op.is_negative()).enumerate() {
            line.push_str(&filter.values[picks[index % 4] % filter.values.len()]);
            line.push_str(&glue[(index + 1) % 5]);
        }
        let stages: Vec<Stage> = filters.iter().cloned().map(Stage::LineFilter).collect();
        let compiled = Pipeline::new(&stages).unwrap();
        if !compiled.matches_line(&line) {
            return Ok(());
        }
        let mut tokens = Vec::new();
        for_each_token(&line, |token| tokens.push(token.to_string()));
        for clause in line_token_hints(&stages) {
            let satisfied = clause.iter().any(|alternative| alternative.iter().all(|token| tokens.contains(token)));
            prop_assert!(satisfied, "clause {:?} fails on {:?}", clause, line);
        }
    }
}

#[test]
fn pipeline_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pipeline>();
}

#[test]
fn leading_line_filters_run_before_labels_are_built() {
    let compiled = pipeline(r#"|= "keep" | logfmt |= "x""#);
    assert!(!compiled.is_line_filter_only());
    assert!(!compiled.matches_line("drop me"));
    assert!(compiled.matches_line("keep me"));
    let stream = Labels::parse(STREAM).unwrap();
    assert!(compiled.process(0, "keep x=1", &stream, &[]).is_some());
    assert!(compiled.process(0, "keep y=1", &stream, &[]).is_none());
    assert!(compiled.process(0, "x=1", &stream, &[]).is_none());
}

proptest! {
    /// No stage panics on arbitrary lines; every result keeps valid label names.
    #[test]
    fn stages_never_panic(line in r#"[a-z0-9 ="{}\[\]:,\\\x1b<>.-]{0,60}|\PC{0,30}"#) {
        let stream = Labels::parse(STREAM).unwrap();
        for stages in [
            "| json",
            r#"| json a="b[0].c""#,
            "| logfmt",
            "| logfmt --strict --keep-empty",
            "| unpack",
            "| decolorize",
            r#"| pattern "<a> <_>=<b>""#,
            r#"| regexp "(?P<x>[a-z]+)""#,
            r#"| logfmt | a > 1 or b > 1s or c > 1KB | line_format "{{.a | upper}}{{ printf \"%5.1f\" .b }}""#,
            r##"| json | label_format x="{{ regexReplaceAll \"[0-9]\" .a \"#\" }}" | drop a | keep x"##,
            r#"|= ip("10.0.0.0/8")"#,
        ] {
            if let Some(processed) = pipeline(stages).process(0, &line, &stream, &[("m", "v")]) {
                for (name, _) in processed.labels.iter() {
                    prop_assert!(strata_model::is_valid_label_name(name), "{} from {} on {:?}", name, stages, line);
                }
            }
        }
    }

    /// The template engine never panics on arbitrary sources.
    #[test]
    fn templates_never_panic(source in r##"[{}. |()a-z"`\-0-9]{0,40}"##) {
        let _ = Pipeline::new(&[Stage::LineFormat(source)]);
    }
}

/// Sizes asked for by a query are bounded: no allocation of the size a
/// printf width or nested repeat names.
#[test]
fn template_sizes_are_bounded() {
    let stages = |query: &str| strata_logql::parse_log_expr(query).unwrap().stages;
    let labels = strata_model::Labels::parse(r#"{app="a"}"#).unwrap();
    for query in [
        r#"{app="a"} | line_format "{{ printf \"%999999999999999s\" \"x\" }}""#,
        r#"{app="a"} | line_format "{{ printf \"%.999999999999999f\" 1.5 }}""#,
        r#"{app="a"} | line_format "{{ repeat 10000 (repeat 10000 \"x\") }}""#,
    ] {
        let pipeline = crate::pipeline::Pipeline::new(&stages(query)).unwrap();
        let processed = pipeline.process(0, "line", &labels, &[]).unwrap();
        assert!(
            processed.line.len() <= 1 << 20,
            "{query}: {} bytes",
            processed.line.len()
        );
    }
}

proptest::proptest! {
    #[test]
    fn candidate_rows_equal_per_line_matching(
        lines in proptest::collection::vec("[ab\n]{0,6}", 0..20),
        needles in proptest::collection::vec("[ab]{1,3}", 1..3),
    ) {
        let filter = needles
            .iter()
            .map(|needle| format!("{needle:?}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let expr = strata_logql::parse_log_expr(&format!(r#"{{a="b"}} |= {filter}"#)).unwrap();
        let pipeline = Pipeline::new(&expr.stages).unwrap();
        let mut text = String::new();
        let mut ends = Vec::new();
        for line in &lines {
            text.push_str(line);
            ends.push(text.len());
        }
        let marks = pipeline.candidate_rows(&text, &ends).expect("a literal filter");
        let expected: Vec<bool> = lines.iter().map(|line| pipeline.matches_line(line)).collect();
        proptest::prop_assert_eq!(marks, expected);
    }
}

#[test]
fn candidate_rows_only_for_positive_literal_filters() {
    for (query, narrows) in [
        (r#"{a="b"} |= "x""#, true),
        (r#"{a="b"} |= "x" or "y" |~ "z""#, true),
        (r#"{a="b"} != "x""#, false),
        (r#"{a="b"} |~ "x""#, false),
        (r#"{a="b"} |= """#, false),
        (r#"{a="b"} | json"#, false),
    ] {
        let expr = strata_logql::parse_log_expr(query).unwrap();
        let pipeline = Pipeline::new(&expr.stages).unwrap();
        assert_eq!(
            pipeline.candidate_rows("xy", &[1, 2]).is_some(),
            narrows,
            "{query}"
        );
    }
}

proptest! {
    /// `finish` orders names by their first eight bytes first: names whose
    /// heads differ are in byte order.
    #[test]
    fn name_heads_order_names(a in "[a\\x00_é]{0,10}", b in "[a\\x00_é]{0,10}") {
        let (head_a, head_b) = (super::name_head(&a), super::name_head(&b));
        if head_a != head_b {
            prop_assert_eq!(head_a.cmp(&head_b), a.cmp(&b));
        }
    }

    /// `finish` sorts every list it returns, whatever the order labels
    /// were added in (more than its 32 inline sort keys too).
    #[test]
    fn finished_lists_are_sorted(
        names in proptest::collection::vec("[a-c_]{1,10}", 0..40),
        values in proptest::collection::vec("[xy]{0,2}", 40),
    ) {
        let stream = Labels::parse(STREAM).unwrap();
        let mut labels = super::LabelSet::new(&stream, &[("m_b", "1"), ("m_a", "2")]);
        for (name, value) in names.iter().zip(&values) {
            labels.set_parsed(name, value.clone());
        }
        let entry = super::EntryState {
            ts_ns: 0,
            line: std::borrow::Cow::Borrowed("l"),
            labels,
            value: None,
        };
        let processed = super::finish(entry);
        let mut pairs = processed.labels.pairs().to_vec();
        pairs.sort();
        prop_assert_eq!(processed.labels.pairs(), &pairs[..]);
        let mut parsed = processed.parsed.clone();
        parsed.sort();
        prop_assert_eq!(&processed.parsed, &parsed);
        prop_assert!(processed.parsed.iter().all(|(_, value)| !value.is_empty()));
        prop_assert_eq!(processed.structured_metadata.len(), 2);
    }
}

#[test]
fn extract_gives_what_process_gives_without_the_stream_labels() {
    let stream = Labels::parse(r#"{app="x", level="stream"}"#).unwrap();
    for query in [
        r#"{a="b"} | json"#,
        r#"{a="b"} | json | level="error" | line_format "{{.msg}}""#,
        r#"{a="b"} |= "err" | logfmt | label_format app=`{{.level}}`"#,
        r#"{a="b"} |= "msg""#,
    ] {
        let expr = strata_logql::parse_log_expr(query).unwrap();
        let pipeline = Pipeline::new(&expr.stages).unwrap();
        for line in [
            r#"{"level":"error","msg":"boom","n":1}"#,
            "level=error msg=err",
            "nothing",
        ] {
            let metadata = [("trace_id", "t1")];
            let processed = pipeline.process(1, line, &stream, &metadata);
            let extracted = pipeline.extract(1, line, &stream, &metadata);
            assert_eq!(processed.is_some(), extracted.is_some(), "{query} {line}");
            let (Some(processed), Some(extracted)) = (processed, extracted) else {
                continue;
            };
            assert_eq!(
                extracted.line.unwrap_or_else(|| line.to_string()),
                processed.line
            );
            let mut fields = extracted.fields;
            fields.sort();
            let mut expected: Vec<(String, String)> = processed
                .structured_metadata
                .into_iter()
                .chain(processed.parsed)
                .collect();
            expected.sort();
            assert_eq!(fields, expected, "{query} {line}");
        }
    }
}

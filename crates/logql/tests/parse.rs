//! Table tests of the parser and printer: valid queries round-trip through
//! Display, invalid ones fail at the expected position.

use strata_logql::{Expr, parse_expr, parse_log_expr};

const VALID: &[&str] = &[
    // Lecture queries.
    r#"{job_type="training", job_id="abc123"} |= "ERROR""#,
    r#"rate({job_type="training"} |= "ERROR" [5m])"#,
    r#"sum(rate({job_type="training"} | json | __error__="" | unwrap loss [5m])) by (model_name)"#,
    r#"sum(sum_over_time({job_type="training"} | json | __error__="" | unwrap loss [5m])) by (model_name)"#,
    r#"{app="training-job"} |= "OutOfMemoryError" | line_format "{{.pod}}: {{.message}}""#,
    // Selectors.
    r#"{app="mysql"}"#,
    r#"{app!="mysql", env="prod"}"#,
    r#"{name=~"mysql.+"}"#,
    r#"{name!~"mysql.+", env="dev"}"#,
    r#"{ app = "a" , pod =~ "p-.*" }"#,
    "{app=`raw\\string`}",
    r#"{app="q\"uote\\ \n tab\t"}"#,
    "{app=\"x\"} # trailing comment",
    "# leading comment\n{app=\"x\"}\n|= \"y\"",
    // Line filters.
    r#"{job="mysql"} |= "error" != "timeout""#,
    r#"{container="frontend"} |~ "(?i)error""#,
    r#"{job="x"} !~ "tsdb-ops.*io:2003""#,
    r#"{job="x"} |= "a" or "b" or "c""#,
    r#"{job="x"} != "a" or "b""#,
    r#"{job="x"} |~ "a" or "b.*""#,
    r#"{job="x"} |> "<_> error <_>""#,
    r#"{job="x"} !> "<_> debug <_>""#,
    r#"{job="x"} |= `\d+ms`"#,
    r#"{job="x"} |= ip("192.168.0.0/16") or ip("10.0.0.1-10.0.0.9")"#,
    r#"{job="x"} != ip("::1")"#,
    r#"{job="x"} | logfmt | addr = ip("10.0.0.0/8") or remote != ip("1.2.3.4")"#,
    // Parsers.
    r#"{job="x"} | json"#,
    r#"{job="x"} | json first_server="servers[0]", ua="request.headers[\"User-Agent\"]""#,
    r#"{job="x"} | json server_list="services", headers="request.headers""#,
    r#"{job="x"} | json status, method"#,
    r#"{job="x"} | logfmt"#,
    r#"{job="x"} | logfmt --strict"#,
    r#"{job="x"} | logfmt --keep-empty --strict"#,
    r#"{job="x"} | logfmt host, fw_path="fwd""#,
    r#"{job="x"} | regexp "(?P<method>\\w+) (?P<path>[\\w|/]+) \\((?P<status>\\d+?)\\) (?P<duration>.*)""#,
    r#"{job="x"} | pattern "<ip> - - <_> \"<method> <uri> <_>\" <status> <size> <_> \"<agent>\" <_>""#,
    r#"{job="x"} | unpack"#,
    r#"{job="x"} | decolorize"#,
    // Label filters.
    r#"{job="x"} | logfmt | duration > 1m and bytes_consumed > 20MB"#,
    r#"{job="x"} | logfmt | duration >= 20ms or size == 20KB"#,
    r#"{job="x"} | logfmt | duration >= 20ms or method="GET" and size <= 20KB"#,
    r#"{job="x"} | logfmt | ((duration >= 20ms or method="GET") and size <= 20KB)"#,
    r#"{job="x"} | logfmt | duration >= 20ms, method="GET""#,
    r#"{job="x"} | logfmt | duration >= 20ms method="GET""#,
    r#"{job="x"} | logfmt | status_code >= 400 | method!~"GET|HEAD""#,
    r#"{job="x"} | json | status == 200"#,
    r#"{job="x"} | json | status = 200"#,
    r#"{job="x"} | json | status != 200"#,
    r#"{job="x"} | json | latency < 1.5"#,
    r#"{job="x"} | json | latency > -1"#,
    r#"{job="x"} | json | latency > 1e3"#,
    r#"{job="x"} | json | took > 1m30s250ms"#,
    r#"{job="x"} | json | size > 1KiB"#,
    r#"{job="x"} | json | size > 1.5kb"#,
    r#"{job="x"} | json | __error__ = """#,
    r#"{job="x"} | json | __error__ != "JSONParserErr""#,
    r#"{job="x"} | json | level =~ "err.*" or (level = "warn" and code > 500)"#,
    r#"{job="x"} | json | a="1" or b="2" or c="3""#,
    r#"{job="x"} | json | a="1" or (b="2" or c="3")"#,
    r#"{job="x"} | json | a="1" and (b="2" and c="3")"#,
    // Formatters and label manipulation.
    r#"{job="x"} | logfmt | line_format "{{.query}} {{.duration}}""#,
    r#"{job="x"} | line_format `{{ if eq .level "error" }}ERR{{ else }}ok{{ end }}`"#,
    r#"{job="x"} | logfmt | label_format foo=bar"#,
    r#"{job="x"} | logfmt | label_format foo="{{.bar}}-{{.baz}}", dst=src"#,
    r#"{job="x"} | logfmt | drop level, method="GET""#,
    r#"{job="x"} | json | drop __error__, __error_details__"#,
    r#"{job="x"} | json | drop a=~"x.*", b!="y""#,
    r#"{job="x"} | logfmt | keep level, method"#,
    r#"{job="x"} | logfmt | keep level, method="GET""#,
    r#"{job="x"} |= "x" | json | line_format "{{.msg}}" | label_format lvl=level | drop pod | keep lvl"#,
    // Range aggregations.
    r#"count_over_time({job="mysql"}[5m])"#,
    r#"count_over_time({job="mysql"} |= "error" [5m])"#,
    r#"count_over_time({job="mysql"}[5m] |= "error")"#,
    r#"count_over_time(({job="mysql"} |= "error")[5m])"#,
    r#"count_over_time({job="mysql"}[5m] offset 1h)"#,
    r#"bytes_over_time({job="mysql"}[1h30m])"#,
    r#"bytes_rate({job="mysql"}[1d])"#,
    r#"absent_over_time({job="mysql"}[1w])"#,
    r#"rate({job="mysql"}[500ms])"#,
    r#"rate({job="x"} | unwrap bytes [1m])"#,
    r#"rate({job="x"}[1m]) by (a)"#,
    r#"rate_counter({job="x"} | logfmt | unwrap total [1m])"#,
    r#"quantile_over_time(0.99, {cluster="ops-tools1", container="ingress-nginx"} | json | __error__ = "" | unwrap request_time [1m]) by (path)"#,
    r#"sum_over_time({job="x"} | logfmt | unwrap duration(took) [5m]) without (pod)"#,
    r#"avg_over_time({job="x"} | logfmt | unwrap duration_seconds(took) | __error__="" [5m])"#,
    r#"max_over_time({job="x"} | logfmt | unwrap bytes(size) [5m]) by (a, b)"#,
    r#"min_over_time({job="x"} | logfmt | unwrap v [5m])"#,
    r#"stdvar_over_time({job="x"} | logfmt | unwrap v [5m])"#,
    r#"stddev_over_time({job="x"} | logfmt | unwrap v [5m])"#,
    r#"first_over_time({job="x"} | logfmt | unwrap v [5m])"#,
    r#"last_over_time({job="x"} | logfmt | unwrap v [5m]) by ()"#,
    // Vector aggregations.
    r#"sum(count_over_time({job="mysql"}[5m])) by (level)"#,
    r#"sum by (level) (count_over_time({job="mysql"}[5m]))"#,
    r#"sum without (pod, instance) (rate({job="x"}[1m]))"#,
    r#"avg(rate({job="x"}[1m]))"#,
    r#"min(rate({job="x"}[1m]))"#,
    r#"max(rate({job="x"}[1m])) by (a)"#,
    r#"count(rate({job="x"}[1m]))"#,
    r#"stddev(rate({job="x"}[1m]))"#,
    r#"stdvar(rate({job="x"}[1m]))"#,
    r#"topk(10, sum(rate({region="us-east1"}[5m])) by (name))"#,
    r#"bottomk by (a) (3, rate({job="x"}[1m]))"#,
    r#"sort(rate({job="x"}[1m]))"#,
    r#"sort_desc(rate({job="x"}[1m]))"#,
    // Binary operators, literals, functions.
    r#"sum(rate({app="foo", level="warn"}[1m])) / sum(rate({app="foo", level="error"}[1m]))"#,
    r#"sum(rate({app="foo"}[1m])) * 100 + 1"#,
    r#"1 + 2 * 3"#,
    r#"(1 + 2) * 3"#,
    r#"2 ^ 3 ^ 2"#,
    r#"(2 ^ 3) ^ 2"#,
    r#"1 - (2 - 3)"#,
    r#"1 - 2 - 3"#,
    r#"-1 + 2"#,
    r#"1 - -2"#,
    r#"-2 ^ 2"#,
    r#"(-2) ^ 2"#,
    r#"2 ^ -1"#,
    r#"-rate({job="x"}[1m]) * 2"#,
    r#"+vector(1)"#,
    r#"rate({job="x"}[1m]) > 10"#,
    r#"rate({job="x"}[1m]) > bool 10"#,
    r#"rate({job="x"}[1m]) == bool on (a) rate({job="y"}[1m])"#,
    r#"rate({job="x"}[1m]) and rate({job="y"}[1m]) or rate({job="z"}[1m])"#,
    r#"rate({job="x"}[1m]) or rate({job="y"}[1m]) unless rate({job="z"}[1m])"#,
    r#"rate({job="x"}[1m]) / ignoring (pod) group_left (node) rate({job="y"}[1m])"#,
    r#"rate({job="x"}[1m]) * on (a, b) group_right rate({job="y"}[1m])"#,
    r#"rate({job="x"}[1m]) % 3 >= 1 <= 4 < 5 != 6"#,
    r#"label_replace(rate({job="api-server", service="a:c"}[5m]), "foo", "$1", "service", "(.*):.*")"#,
    r#"vector(1)"#,
    r#"sum(rate({job="x"}[1m])) or vector(0)"#,
    r#"42"#,
    r#"0.5"#,
];

fn round_trip(query: &str) {
    let parsed = parse_expr(query).unwrap_or_else(|err| panic!("{query}: {err}"));
    let printed = parsed.to_string();
    let reparsed =
        parse_expr(&printed).unwrap_or_else(|err| panic!("{query} printed as {printed}: {err}"));
    assert_eq!(parsed, reparsed, "{query} printed as {printed}");
    assert_eq!(
        reparsed.to_string(),
        printed,
        "printing is not stable for {query}"
    );
    if let Expr::Log(log) = &parsed {
        assert_eq!(parse_log_expr(query).as_ref(), Ok(log));
    } else {
        assert!(parse_log_expr(query).is_err());
    }
}

#[test]
fn valid_queries_round_trip() {
    assert!(VALID.len() >= 80, "{} cases", VALID.len());
    for query in VALID {
        round_trip(query);
    }
}

#[test]
fn canonical_forms() {
    let case = |query: &str, canonical: &str| {
        assert_eq!(parse_expr(query).unwrap().to_string(), canonical, "{query}");
    };
    case(r#"{job="x"}|="a""#, r#"{job="x"} |= "a""#);
    case(
        r#"{job="x"} | json | a="1", b="2""#,
        r#"{job="x"} | json | a="1" and b="2""#,
    );
    case(
        r#"{job="x"} | json | a="1" or b="2" and c="3""#,
        r#"{job="x"} | json | a="1" or b="2" and c="3""#,
    );
    case(
        r#"{job="x"} | json | (a="1" or b="2") and c="3""#,
        r#"{job="x"} | json | (a="1" or b="2") and c="3""#,
    );
    case(
        r#"count_over_time({job="x"}[5m] |= "e")"#,
        r#"count_over_time({job="x"} |= "e" [5m])"#,
    );
    case(
        r#"sum(rate({job="x"}[1m])) by (a)"#,
        r#"sum by (a) (rate({job="x"}[1m]))"#,
    );
    case(r#"rate({job="x"}[1d])"#, r#"rate({job="x"}[24h])"#);
    case("1 + 2 * 3", "1 + 2 * 3");
    case("(1 + 2) * 3", "(1 + 2) * 3");
    case("((1))", "1");
    case("-2 ^ 2", "-2 ^ 2");
    case("- vector(1)", "-vector(1)");
    case("-(1 + vector(1))", "-(1 + vector(1))");
    case("- - vector(1)", "- -vector(1)");
    case("(-vector(1)) ^ 2", "(-vector(1)) ^ 2");
    case("-vector(1) * 2", "-vector(1) * 2");
    case(
        r#"{job="x"} | json | size > 1024B"#,
        r#"{job="x"} | json | size>1KiB"#,
    );
}

#[test]
fn invalid_queries_fail_at_the_expected_position() {
    let mut failures = Vec::new();
    let mut case = |query: &str, line: usize, col: usize, message: &str| match parse_expr(query) {
        Ok(expr) => failures.push(format!("{query}: parsed as {expr}")),
        Err(err) if (err.line, err.col) != (line, col) || !err.message.contains(message) => {
            failures.push(format!("{query}: {err}, expected {line}:{col} {message}"));
        }
        Err(_) => {}
    };
    case(
        r#"{job="x"} |= "#,
        1,
        13,
        "syntax error: unexpected end of input, expected string",
    );
    case(r#"{job="x"} |="#, 1, 12, "unexpected end of input");
    case("", 1, 0, "unexpected end of input");
    case("{}", 1, 2, "expected label name");
    case(r#"{job="x""#, 1, 8, "unexpected end of input");
    case(r#"{job=x}"#, 1, 6, "expected string");
    case(r#"{job=="x"}"#, 1, 5, "expected one of");
    case(r#"{job=~".*"}"#, 1, 1, "empty-compatible value");
    case(r#"{job!="x"}"#, 1, 1, "empty-compatible value");
    case(r#"{job=""}"#, 1, 1, "empty-compatible value");
    case(r#"{job=~"("}"#, 1, 7, "invalid regex");
    case(r#"{job="x"} |~ "(""#, 1, 14, "invalid regex");
    case(r#"{job="x"} | regexp "(?P<a""#, 1, 20, "invalid regex");
    case(
        r#"{job="x"} | foo"#,
        1,
        13,
        "expected parser, formatter or label filter",
    );
    case(r#"{job="x"} | json | a > "x""#, 1, 22, "needs a number");
    case(r#"{job="x"} | json | a =~ 5"#, 1, 25, "expected string");
    case(r#"{job="x"} | json | a > 5zz"#, 1, 24, "cannot parse");
    case(r#"{job="x"} | logfmt --lax"#, 1, 20, "unknown logfmt flag");
    case(r#"{job="x"} | label_format a"#, 1, 26, "expected \"=\"");
    case(
        r#"{job="x"} | label_format a=5"#,
        1,
        28,
        "expected label name or template string",
    );
    case(
        r#"{job="x"} | unwrap foo(x)"#,
        1,
        20,
        "unknown unwrap conversion",
    );
    case(
        r#"{job="x"} | unwrap x"#,
        1,
        1,
        "unwrap is only allowed inside a range aggregation",
    );
    case(r#"{job="x"} "oops""#, 1, 11, "expected end of input");
    case("{job=\"x\"}\n | json\n | ", 3, 3, "unexpected end of input");
    case(r#"rate({job="x"})"#, 1, 15, "expected \"[\"");
    case(r#"rate({job="x"}[5])"#, 1, 16, "expected duration");
    case(r#"rate({job="x"}[0s])"#, 1, 16, "range must be positive");
    case(
        r#"sum_over_time({job="x"}[5m])"#,
        1,
        1,
        "invalid aggregation sum_over_time without unwrap",
    );
    case(
        r#"count_over_time({job="x"} | unwrap a [5m])"#,
        1,
        1,
        "invalid aggregation count_over_time with unwrap",
    );
    case(
        r#"count_over_time({job="x"}[5m]) by (a)"#,
        1,
        1,
        "grouping not allowed",
    );
    case(
        r#"quantile_over_time({job="x"} | unwrap a [5m])"#,
        1,
        20,
        "expected number",
    );
    case(
        r#"sum_over_time({job="x"} | unwrap a | json [5m])"#,
        1,
        15,
        "unwrap can only be followed by label filters",
    );
    case(r#"topk(rate({job="x"}[1m]))"#, 1, 6, "expected number");
    case(
        r#"topk(1.5, rate({job="x"}[1m]))"#,
        1,
        6,
        "k must be a positive integer",
    );
    case(
        r#"sum(rate({job="x"}[1m])"#,
        1,
        23,
        "unexpected end of input",
    );
    case(r#"sum({job="x"})"#, 1, 5, "a log query cannot be used here");
    case(r#"rate({job="x"}[1m]) +"#, 1, 21, "unexpected end of input");
    case(r#"rate({job="x"}[1m]) + bool 1"#, 1, 23, "bool modifier");
    case(
        r#"rate({job="x"}[1m]) and on (a) group_left rate({job="y"}[1m])"#,
        1,
        21,
        "no grouping allowed",
    );
    case(
        r#"label_replace(vector(1), "a", "b", "c", "(")"#,
        1,
        41,
        "invalid regex",
    );
    case(r#"foo(1)"#, 1, 1, "unexpected identifier \"foo\"");
    case(
        r#"{job="x"} |= "unterminated"#,
        1,
        14,
        "unterminated string",
    );
    case(r#"{job="x"} |= "bad \q escape""#, 1, 19, "invalid escape");
    case(r#"{job="x"} @"#, 1, 11, "unexpected character");
    case(
        &format!("{}1{}", "(".repeat(100), ")".repeat(100)),
        1,
        65,
        "nesting deeper than 64",
    );
    case(&"1 ^ ".repeat(600), 1, 2051, "more than 512 operators");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn log_expr_rejects_metric_queries() {
    let err = parse_log_expr(r#"rate({job="x"}[1m])"#).unwrap_err();
    assert!(err.message.contains("metric query is not allowed"), "{err}");
    assert!(parse_log_expr("").is_err());
}

/// Pipeline pieces combined at random by the round-trip property below.
const STAGES: &[&str] = &[
    r#"|= "a""#,
    r#"!= "b" or "c""#,
    r#"|~ "x.*y""#,
    r#"!~ `\d`"#,
    r#"|> "<_> z""#,
    "| json",
    r#"| json a="b.c[0]", d"#,
    "| logfmt --strict",
    r#"| logfmt --keep-empty x="y""#,
    r#"| regexp "(?P<n>\\w+)""#,
    r#"| pattern "<a> <_>""#,
    "| unpack",
    r#"| n > 1.5 or s = "t" and d <= 1m30s"#,
    r#"| (a = "1" or b != "2"), c =~ "3.*""#,
    "| size >= 20MB",
    r#"| __error__ = """#,
    r#"| line_format "{{.a}} \"q\"""#,
    r#"| label_format a=b, c="{{.d}}""#,
    r#"| drop a, b="c""#,
    // A bare name last would swallow a following `!= "x"` line filter as a
    // matcher, as in Loki's grammar; see `Stage::Drop`.
    r#"| keep a, b!="c""#,
    "| decolorize",
];

proptest::proptest! {
    /// Any sequence of stages prints to a query that parses back to the same AST,
    /// as a log query and inside a range aggregation.
    #[test]
    fn random_pipelines_round_trip(indexes in proptest::collection::vec(0..STAGES.len(), 0..6)) {
        let stages: Vec<&str> = indexes.iter().map(|&index| STAGES[index]).collect();
        let query = format!(r#"{{app="x"}} {}"#, stages.join(" "));
        round_trip(&query);
        round_trip(&format!("sum by (a) (count_over_time({query} [5m] offset 1m)) > 2"));
        round_trip(&format!("quantile_over_time(0.5, {query} | unwrap duration(d) | __error__=\"\" [5m]) by (a)"));
    }
}

/// Found by fuzzing: a chain of unary minus signs right under the nesting
/// limit must print to a query that parses again.
#[test]
fn sign_chains_round_trip_under_the_limits() {
    for query in [
        format!("{}1^2", "-".repeat(66)),
        vec!["-1^2"; 171].join("+"),
    ] {
        let expr = parse_expr(&query).unwrap();
        let printed = expr.to_string();
        let again = parse_expr(&printed).unwrap_or_else(|err| panic!("{printed}: {err}"));
        assert_eq!(again, expr);
    }
}

#[test]
fn expr_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Expr>();
}

fn arb_metric() -> impl proptest::strategy::Strategy<Value = strata_logql::MetricExpr> {
    use proptest::prelude::*;
    use strata_logql::{BinOp, BinaryExpr, MetricExpr, VectorMatching};
    let leaf = prop_oneof![
        (-3i32..4).prop_map(|value| MetricExpr::Number(f64::from(value))),
        (0u32..3).prop_map(|value| MetricExpr::VectorLiteral(f64::from(value))),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        let negated =
            inner
                .clone()
                .prop_filter_map("a number literal takes its own sign", |operand| {
                    (!matches!(operand, MetricExpr::Number(_)))
                        .then(|| MetricExpr::Neg(Box::new(operand)))
                });
        let ops = [
            BinOp::Add,
            BinOp::Sub,
            BinOp::Mul,
            BinOp::Div,
            BinOp::Mod,
            BinOp::Pow,
            BinOp::Eq,
            BinOp::Gt,
            BinOp::Lte,
            BinOp::And,
            BinOp::Or,
            BinOp::Unless,
        ];
        let binary = (
            inner.clone(),
            inner,
            proptest::sample::select(ops.to_vec()),
            any::<bool>(),
        )
            .prop_map(|(lhs, rhs, op, flag)| {
                let return_bool = flag && op.is_comparison();
                let matching = (flag && op.is_set_op()).then(|| VectorMatching {
                    on: true,
                    labels: vec!["a".to_string()],
                    group: None,
                });
                MetricExpr::Binary(Box::new(BinaryExpr {
                    op,
                    lhs,
                    rhs,
                    return_bool,
                    matching,
                }))
            });
        prop_oneof![3 => binary, 1 => negated]
    })
}

proptest::proptest! {
    /// The printer parenthesizes by precedence and associativity: any tree survives a round trip.
    #[test]
    fn random_binary_trees_round_trip(expr in arb_metric()) {
        let printed = expr.to_string();
        let reparsed = parse_expr(&printed).unwrap_or_else(|err| panic!("{printed}: {err}"));
        proptest::prop_assert_eq!(reparsed, Expr::Metric(expr), "{}", printed);
    }
}

proptest::proptest! {
    /// Arbitrary text never panics the parser, and what parses round-trips.
    #[test]
    fn parser_never_panics(input in r#"[{}()\[\]|=!~<>+*/%^,"`a-z_0-9. #\-\\\n]{0,40}"#) {
        if let Ok(expr) = parse_expr(&input) {
            let printed = expr.to_string();
            proptest::prop_assert_eq!(parse_expr(&printed), Ok(expr), "{} printed as {}", input, printed);
        }
    }

    /// Token soup built from LogQL words exercises deeper paths than random characters.
    #[test]
    fn token_soup_never_panics(words in proptest::collection::vec(proptest::sample::select(vec![
        "{", "}", "(", ")", "[", "]", "a", "=", "\"x\"", "|", "|=", "!=", "json", "logfmt", "unwrap", "rate",
        "sum", "by", "5m", "1", ",", "and", "or", "+", "^", "offset", "bool", "on", "group_left", "line_format",
        "label_format", "drop", "keep", "ip", "topk", "vector", "label_replace", "quantile_over_time", "--strict",
        ">", "0.5", "20MB", "duration", "-",
    ]), 0..24)) {
        let input = words.join(" ");
        if let Ok(expr) = parse_expr(&input) {
            let printed = expr.to_string();
            proptest::prop_assert_eq!(parse_expr(&printed), Ok(expr), "{} printed as {}", input, printed);
        }
    }
}

/// Label filters side by side nest as `and`s: a huge chain is refused, not
/// parsed into a tree deep enough to overflow a server thread's stack.
#[test]
fn huge_implicit_and_chain_is_refused() {
    let query = format!(r#"{{a="b"}} | {}"#, r#"x="1" "#.repeat(200_000));
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            strata_logql::parse_expr(&query)
                .map(|_| ())
                .map_err(|err| err.to_string())
        })
        .unwrap();
    let err = handle
        .join()
        .expect("parser thread overflowed its stack")
        .unwrap_err();
    assert!(err.contains("operators"), "{err}");
}

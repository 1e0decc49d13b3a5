use super::*;
use crate::refusal::Refusal;

#[test]
fn the_schema_names_every_kind_and_forbids_extra_fields() {
    let tool = request_resource_tool();
    assert_eq!(tool.name, "request_resource");
    let kinds = tool.parameters["properties"]["kind"]["enum"]
        .as_array()
        .expect("enum");
    assert_eq!(kinds.len(), 6);
    assert_eq!(tool.parameters["additionalProperties"], json!(false));
    assert_eq!(tool.parameters["required"], json!(["kind"]));
}

#[test]
fn arguments_become_specs() {
    let (spec, lease) = parse_arguments(&json!({"kind": "port", "lease_hours": 2})).expect("ok");
    assert_eq!(
        spec,
        Spec::Port(PortSpec {
            server: String::new()
        })
    );
    assert_eq!(lease, Some(Duration::from_secs(7200)));
    let (spec, _) =
        parse_arguments(&json!({"kind": "secret", "secret_name": "bot", "single_use": true}))
            .expect("ok");
    assert_eq!(
        spec,
        Spec::Secret(SecretSpec {
            source: Some(secret_spec::Source::UserSecret("bot".into())),
            single_use: true
        })
    );
    let (spec, _) = parse_arguments(&json!({"kind": "llm_budget", "budget_usd": 1.5})).expect("ok");
    assert_eq!(
        spec,
        Spec::LlmBudget(LlmBudgetSpec {
            usd_micros: 1_500_000
        })
    );
}

#[test]
fn bad_arguments_are_explained() {
    for (args, needle) in [
        (json!({"kind": "domain"}), "needs `label`"),
        (json!({"kind": "teleporter"}), "unknown kind"),
        (json!({"kind": "port", "sops_path": "x"}), "unknown field"),
        (json!({"kind": "llm_budget", "budget_usd": -1}), "positive"),
        (json!({}), "missing field `kind`"),
    ] {
        let error = parse_arguments(&args).expect_err("invalid");
        assert!(error.contains(needle), "{args}: {error}");
    }
}

#[test]
fn the_result_holds_only_non_secret_fields() {
    let resource = Resource {
        id: "r1".into(),
        kind: ResourceKind::Secret as i32,
        name: "secret:user:bot".into(),
        handle: "hdl_abcdefghijklmnopqrstuvwxyz012345".into(),
        secret_source: "user:bot".into(),
        single_use: true,
        lease_expires_at: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        ..Default::default()
    };
    let out = allocation_result(&resource);
    assert_eq!(out["status"], "allocated");
    assert_eq!(out["kind"], "secret");
    assert_eq!(out["handle"], "hdl_abcdefghijklmnopqrstuvwxyz012345");
    assert_eq!(out["expires_at"], "2027-01-15T08:00:00Z");
    let mut keys: Vec<&str> = out
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "expires_at",
            "handle",
            "kind",
            "name",
            "resource_id",
            "single_use",
            "status"
        ]
    );
}

#[test]
fn refusals_are_results_and_outages_are_errors() {
    let refused = ClientError::Refused {
        refusal: Refusal::NoPortFree,
        code: Code::ResourceExhausted,
        message: "no port free on srv-1".into(),
    };
    let out = outcome_of_error(refused).expect("a result");
    assert_eq!(out["status"], "refused");
    assert_eq!(out["reason"], "NO_PORT_FREE");
    assert_eq!(out["may_clear_later"], true);
    let invalid = ClientError::Rejected {
        code: Code::InvalidArgument,
        message: "bad label".into(),
    };
    assert_eq!(
        outcome_of_error(invalid).expect("a result")["status"],
        "invalid"
    );
    let down = ClientError::Unavailable {
        message: "connection refused".into(),
    };
    assert!(outcome_of_error(down).is_err());
    let denied = ClientError::Rejected {
        code: Code::PermissionDenied,
        message: "no".into(),
    };
    assert!(outcome_of_error(denied).is_err());
}

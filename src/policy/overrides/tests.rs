use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn over(name: &str, namespaces: NamespaceMatch, settings: Vec<Setting>) -> Override {
    Override { name: name.into(), namespaces, settings }
}

fn selector(requirements: Vec<Requirement>) -> NamespaceMatch {
    NamespaceMatch { names: BTreeSet::new(), selector: Some(requirements) }
}

fn env_is(value: &str) -> Vec<Requirement> {
    vec![Requirement::In("env".into(), [value.to_string()].into())]
}

fn policy() -> Policy {
    Policy::new(
        vec![Setting::Action(RuleId::PodSecretKeys, Action::Warn)],
        vec![
            over(
                "dev",
                selector(env_is("dev")),
                vec![Setting::Action(RuleId::PodSecretExists, Action::Warn), Setting::Workloads(WorkloadAction::Off)],
            ),
            over(
                "sandbox",
                NamespaceMatch { names: ["sandbox".to_string()].into(), selector: None },
                vec![Setting::Action(RuleId::PodSecretExists, Action::Audit), Setting::MountsEnabled(false)],
            ),
        ],
        vec![Exemption {
            name: "break-glass".into(),
            users: ["system:serviceaccount:argocd:controller".to_string()].into(),
            groups: ["break-glass".to_string()].into(),
            rules: RuleSet::Some([RuleId::PodSecretExists].into()),
        }],
    )
}

#[test]
fn no_match_is_the_file_settings_shared() {
    let p = policy();
    let r = p.resolve("prod", Some(&labels(&[("env", "prod")])), None);
    assert!(Arc::ptr_eq(&r.settings, p.base()), "no copy where nothing matched");
    assert!(r.overrides.is_empty());
    assert_eq!(r.settings.action(RuleId::PodSecretExists), Action::Deny);
    assert_eq!(r.settings.action(RuleId::PodSecretKeys), Action::Warn, "the file's own setting");
}

#[test]
fn selector_and_name_matches_merge_key_by_key_later_wins() {
    let p = policy();
    let dev = labels(&[("env", "dev")]);
    let r = p.resolve("team-a", Some(&dev), None);
    assert_eq!(r.settings.action(RuleId::PodSecretExists), Action::Warn);
    assert_eq!(r.settings.workloads, WorkloadAction::Off);
    assert_eq!(r.overrides, vec![Arc::<str>::from("dev")]);
    // both match: sandbox is later, so its action wins; dev's workloads stays
    let r = p.resolve("sandbox", Some(&dev), None);
    assert_eq!(r.settings.action(RuleId::PodSecretExists), Action::Audit);
    assert_eq!(r.settings.workloads, WorkloadAction::Off);
    assert!(!r.settings.secret_mounts.enabled);
    assert_eq!(r.overrides, vec![Arc::<str>::from("dev"), Arc::<str>::from("sandbox")]);
}

#[test]
fn an_unknown_namespace_matches_by_name_only() {
    let p = policy();
    assert_eq!(p.resolve("team-a", None, None).overrides.len(), 0);
    assert_eq!(p.resolve("sandbox", None, None).overrides, vec![Arc::<str>::from("sandbox")]);
}

#[test]
fn selector_operators_follow_upstream() {
    let l = labels(&[("env", "prod"), ("tier", "1")]);
    let cases: [(Requirement, bool); 8] = [
        (Requirement::In("env".into(), ["prod".into(), "stage".into()].into()), true),
        (Requirement::In("team".into(), ["a".into()].into()), false),
        (Requirement::NotIn("env".into(), ["dev".into()].into()), true),
        (Requirement::NotIn("team".into(), ["a".into()].into()), true),
        (Requirement::NotIn("env".into(), ["prod".into()].into()), false),
        (Requirement::Exists("tier".into()), true),
        (Requirement::DoesNotExist("tier".into()), false),
        (Requirement::DoesNotExist("team".into()), true),
    ];
    for (requirement, want) in cases {
        assert_eq!(selector(vec![requirement.clone()]).matches("x", Some(&l)), want, "{requirement:?}");
    }
    assert!(selector(Vec::new()).matches("x", Some(&Labels::new())), "an empty selector selects every namespace");
    let both = selector(vec![Requirement::Exists("env".into()), Requirement::Exists("team".into())]);
    assert!(!both.matches("x", Some(&l)), "every requirement must hold");
}

#[test]
fn exemptions_match_by_user_or_group_and_never_lift_off() {
    let p = policy();
    let groups = vec!["system:authenticated".to_string(), "break-glass".to_string()];
    let alice = Requester { user: "alice", groups: &groups };
    let r = p.resolve("prod", None, Some(&alice));
    assert_eq!(r.exemption(RuleId::PodSecretExists), Some("break-glass"));
    assert_eq!(r.action(RuleId::PodSecretExists, Action::Deny), Action::Exempt);
    assert_eq!(r.action(RuleId::PodSecretExists, Action::Off), Action::Off);
    assert_eq!(r.action(RuleId::PodSecretKeys, Action::Warn), Action::Warn, "not a rule it names");
    let robot = Requester { user: "system:serviceaccount:argocd:controller", groups: &[] };
    assert!(p.resolve("prod", None, Some(&robot)).exemption(RuleId::PodSecretExists).is_some());
    let bob = Requester { user: "bob", groups: &["system:authenticated".to_string()] };
    assert_eq!(p.resolve("prod", None, Some(&bob)).exemption(RuleId::PodSecretExists), None);
    assert_eq!(p.resolve("prod", None, None).exemption(RuleId::PodSecretExists), None, "no requester: the audit");
}

#[test]
fn explain_names_the_source_of_every_key() {
    let p = policy();
    let lines = p.explain("sandbox", Some(&labels(&[("env", "dev")])));
    assert_eq!(lines.len(), Key::all().len());
    let line = |key: Key| lines.iter().find(|l| l.key == key).unwrap().clone();
    let exists = line(Key::Action(RuleId::PodSecretExists));
    assert_eq!(exists.value, "audit");
    assert_eq!(exists.source.to_string(), "override sandbox (overrides[1])");
    assert_eq!(line(Key::Workloads).source.to_string(), "override dev (overrides[0])");
    assert_eq!(line(Key::Action(RuleId::PodSecretKeys)).source, Source::File);
    let size = line(Key::MaxSecretBytes);
    assert_eq!((size.value.as_str(), size.source), ("1048576", Source::Default));
    assert_eq!(Key::MaxSecretBytes.path(), "rules.secret-size.maxBytes");
}

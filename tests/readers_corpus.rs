//! The trajectory fixtures, each with the outcome the compiler must give it:
//! how many records compile, and how many are refused of each kind. Every
//! fixture is a real file from an agent framework (see its MANIFEST line);
//! usable runs compile, unusable ones are refused for their true reason.
//! Also: the whole corpus compiles identically for any `--jobs`, and its
//! counts reconcile (read = written + rejected).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use acc_probe::compile::pipeline::{collect_files, compile_files, CompileOptions};
use common::{compile_opts, fixture, Chars};

/// Refusals by kind: (kind name, count).
type Kinds = &'static [(&'static str, usize)];

/// (fixture under `trajectories/`, records written, refusals by kind)
const CORPUS: &[(&str, usize, Kinds)] = &[
    ("agentbench/medagentbench_gpt-4o_runs_first2lines.jsonl", 2, &[]),
    ("anthropic-claude-code/claude_code_session-196820da_coding_excerpt.jsonl", 2, &[]),
    ("anthropic-claude-code/claude_code_session_4c2ddfdc.jsonl", 1, &[("no_evidence", 2)]),
    ("anthropic-claude-code/spotter_main-session_with-task-subagent.jsonl", 2, &[]),
    ("anthropic-messages/messages_api_dumps.jsonl", 1, &[("malformed", 1)]),
    ("langchain/langgraph_state_sql.json", 1, &[]),
    ("langchain/messages_to_dict_eiffel.json", 1, &[]),
    ("llamafactory/llamafactory_dataset_info.json", 0, &[("not_a_trajectory", 1)]),
    ("llamafactory/llamafactory_v1_sft_demo.yaml", 0, &[("not_a_trajectory", 1)]),
    ("llamafactory/llamafactory_v1_sft_demo_first20.jsonl", 0, &[("no_tool_calls", 20)]),
    ("llamafactory/v1_tool_rows.jsonl", 1, &[("malformed", 1)]),
    ("mini-swe-agent/astropy__astropy-12907_excerpt.traj.json", 1, &[]),
    ("mini-swe-agent/miniswe_messages_only_github_issue.traj.json", 1, &[]),
    ("openai-chat/openhands-sdk_llmlog_deepseek_nonfncall.json", 1, &[]),
    ("openai-chat/tau-bench_gpt-4o-airline_first3records.json", 3, &[]),
    ("openai-chat/tau2_retail_claude-sonnet-4-5_1trial_excerpt.json", 0, &[("unfinished", 1)]),
    ("openai-responses-codex/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799_excerpt.jsonl", 2, &[]),
    ("openai-responses-codex/rollout-44444444-4444-4444-8444-444444444444.legacy.jsonl", 0, &[("no_tool_calls", 1)]),
    ("openhands/oh-benchmarks_openagentsafety_v1_output.jsonl", 1, &[("unfinished", 1)]),
    ("openhands/openhands_eval_output_ponyc-4593_excerpt.jsonl", 1, &[]),
    ("openhands/openhands_resolver_mock_output_row1.jsonl", 1, &[]),
    ("openhands/openhands_v0_events_basic.json", 1, &[]),
    ("other-cli-agents/gemini_cli_session_file-ops.json", 3, &[("no_evidence", 1), ("no_tool_calls", 1)]),
    ("other-cli-agents/vibecodingtracker_session.jsonl", 1, &[("unfinished", 1)]),
    ("react-text/fireact_hotpotqa_alpaca_format_excerpt.json", 3, &[]),
    ("react-text/fireact_hotpotqa_gpt_format_first51.jsonl", 50, &[("no_tool_calls", 1)]),
    ("react-text/react_hotpotqa_prompts_naive.json", 23, &[("no_tool_calls", 28)]),
    ("react-text/react_prompts_fever.json", 6, &[("no_tool_calls", 6)]),
    ("react-text/react_webthink_runs_written.jsonl", 1, &[("unfinished", 1)]),
    ("react-text/reflexion_hotpotqa_react_base_100q_5trials_excerpt.txt", 3, &[("unfinished", 2)]),
    ("search-r1/search_r1_case.txt", 2, &[]),
    ("search-r1/search_r1_corpus_sample.jsonl", 0, &[("not_a_trajectory", 10)]),
    ("smolagents/benchmark_gpt-4o_tool-calling_simpleqa_excerpt.jsonl", 1, &[]),
    ("smolagents/decentralized_run_023f7ac8_messages.jsonl", 0, &[("not_a_trajectory", 1)]),
    ("sql-agent/adp_agenttuning_db_sample_raw.json", 0, &[("no_tool_calls", 5)]),
    ("sql-agent/spider2-snow_task_sf_bq024.jsonl", 0, &[("not_a_trajectory", 1)]),
    ("sql-agent/spider2_spider-agent-tc_sf_bq024.json", 0, &[("unfinished", 1)]),
    ("sql-agent/spider2_spider-agent-tc_terminated_written.json", 1, &[]),
    ("sql-agent/spider_agent_early_result_335fb285.json", 0, &[("no_answer", 1)]),
    ("sql-agent/spider_agent_early_result_9863d716.json", 1, &[]),
    ("swe-agent/enigma0x_networking_1.traj", 1, &[]),
    ("swe-agent/function_calling_simple_historyonly.traj", 1, &[]),
    ("swe-agent/marshmallow-1867__function_calling_replace.traj", 1, &[]),
    ("swe-agent/pydicom__all_preds.jsonl", 0, &[("not_a_trajectory", 1)]),
    ("swe-agent/pydicom__pydicom-1458__gpt4_v0.traj", 1, &[]),
    ("swe-agent/sweagent-1x_fc_6e44b9__sweagenttestrepo-1c2844.traj", 1, &[]),
    ("swe-datasets/nebius_sample_raw_first2.json", 2, &[]),
    ("swe-datasets/nebius_sample_std_ADP_first2.json", 2, &[]),
    ("swe-datasets/swe-gym_sample_raw_first1.json", 1, &[]),
    ("text-calls/openai_messages_text_calls.jsonl", 2, &[]),
    ("text-calls/sharegpt_text_calls.json", 2, &[]),
    ("toolbench/stabletoolbench_cot_588_CoT1_failed.json", 0, &[("unfinished", 1)]),
    ("toolbench/toolbench_raw_answer_82217_ChatGPT_DFS_woFilter_w2.json", 1, &[]),
    ("openhands/v1_sdk_conversation", 1, &[("no_tool_calls", 1)]),
    ("openhands/v1_events_excerpt_no_task_no_finish", 0, &[("no_task", 1)]),
    ("swe-datasets/adp_swe-chat_sample_raw.json", 2, &[("unfinished", 1)]),
    ("react-text/react_prompts_webshop_initial.json", 4, &[]),
    ("openai-chat/adp_toolmind_sample_raw.json", 0, &[("unfinished", 4)]),
    ("openai-chat/oh_agent-sdk_fncall-llm-message_hello.json", 1, &[]),
    ("openhands/oh_eval_gorilla_hf_gpt-4o_row1_excerpt.jsonl", 0, &[("no_tool_calls", 1)]),
    ("openai-chat/tau2_banking_knowledge_task_074_taskspec.json", 0, &[("not_a_trajectory", 1)]),
];
fn opts() -> CompileOptions {
    compile_opts(32 * 1024)
}

#[test]
fn every_fixture_gets_its_outcome() {
    let mut wrong = Vec::new();
    for (rel, written, kinds) in CORPUS {
        let path = fixture(&format!("trajectories/{rel}"));
        let files = collect_files(&[path]).unwrap();
        let out = compile_files(&files, &opts(), &Chars, &|| {});
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        for r in &out.rejections {
            *got.entry(r.kind.name().to_string()).or_default() += 1;
        }
        let want: BTreeMap<String, usize> =
            kinds.iter().map(|(k, n)| (k.to_string(), *n)).collect();
        assert_eq!(out.read, out.samples.len() + out.rejections.len(), "{rel}");
        if out.samples.len() != *written || got != want {
            wrong.push(format!(
                "{rel}: {} written {got:?}, expected {written} {want:?}; first refusals: {:?}",
                out.samples.len(),
                out.rejections
                    .iter()
                    .take(2)
                    .map(|r| &r.reason)
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_corpus_compiles_the_same_for_any_number_of_workers_and_reconciles() {
    let files: Vec<PathBuf> = collect_files(&[fixture("trajectories")])
        .unwrap()
        .into_iter()
        .filter(|f| !f.ends_with("MANIFEST.txt"))
        .collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| compile_files(&files, &opts(), &Chars, &|| {}))
    };
    let one = run(1);
    let four = run(4);
    assert_eq!(one.read, one.samples.len() + one.rejections.len());
    assert_eq!(
        serde_json::to_string(&one.samples).unwrap(),
        serde_json::to_string(&four.samples).unwrap()
    );
    assert_eq!(one.rejections, four.rejections);
    // every usable fixture is in the table above
    let listed: Vec<PathBuf> = CORPUS
        .iter()
        .map(|(rel, _, _)| fixture(&format!("trajectories/{rel}")))
        .collect();
    for f in &files {
        assert!(
            listed.iter().any(|l| f.starts_with(l)),
            "{} has no expected outcome in CORPUS",
            f.display()
        );
    }
}

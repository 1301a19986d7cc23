//! Running a model over many probe inputs layer-major: the inputs go in
//! batches whose hidden states fit [`BATCH_ACTIVATION_BYTES`], and within a
//! batch each layer is taken once and run on every input
//! ([`Qwen3Moe::forward_batch`]). With streamed weights that reads the model
//! once per batch instead of once per input; every input's statistics are
//! those of a pass of its own.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::model::hook::Probe;
use crate::model::{ForwardOptions, LogitsRequest, Qwen3Moe, StreamBlocks};
use crate::tasks::probe_inputs::ProbeInput;

/// The hidden states ([t, hidden] f32 per input) a batch may hold at once.
pub const BATCH_ACTIVATION_BYTES: u64 = 1 << 30;

/// Consecutive ranges of `inputs` whose hidden states of width `hidden` fit
/// [`BATCH_ACTIVATION_BYTES`] (an input larger than that is a batch alone).
pub fn batches(inputs: &[ProbeInput], hidden: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, x) in inputs.iter().enumerate() {
        let b = x.ids.len() as u64 * hidden as u64 * 4;
        if i > start && bytes + b > BATCH_ACTIVATION_BYTES {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += b;
    }
    if start < inputs.len() {
        out.push(start..inputs.len());
    }
    out
}

/// Runs `model` over `inputs` in [`batches`], without logits (each pass
/// stops after the last of `layers`): `make` gives input i its probe,
/// `finish` receives it after the pass. `progress(done, total)` counts layer
/// passes (input × layer).
pub fn run_batched<P: Probe>(
    model: &Qwen3Moe,
    inputs: &[ProbeInput],
    layers: &[usize],
    blocks: StreamBlocks,
    mut make: impl FnMut(usize, &ProbeInput) -> Result<P>,
    mut finish: impl FnMut(usize, P) -> Result<()>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<()> {
    let opts = ForwardOptions {
        blocks,
        logits: LogitsRequest::None,
        ..Default::default()
    };
    let total = inputs.len() * layers.iter().max().map_or(0, |&l| l + 1);
    let mut done = 0;
    for range in batches(inputs, model.config.hidden_size) {
        let part = &inputs[range.clone()];
        for x in part {
            model.check_input(&x.ids).map_err(|e| {
                Error::Input(format!("probe input {} ({}): {e}", x.id, x.task.name()))
            })?;
        }
        let mut probes = range
            .clone()
            .map(|i| make(i, &inputs[i]))
            .collect::<Result<Vec<P>>>()?;
        let ids: Vec<&[u32]> = part.iter().map(|x| x.ids.as_slice()).collect();
        {
            let mut dyns: Vec<&mut dyn Probe> =
                probes.iter_mut().map(|p| p as &mut dyn Probe).collect();
            model.forward_batch(&ids, &mut dyns, opts, &mut |ran| {
                done += ran;
                progress(done, total);
            })?;
        }
        for (i, p) in range.zip(probes) {
            finish(i, p)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::probe_inputs::ProbeTask;

    fn input(n: usize) -> ProbeInput {
        ProbeInput {
            id: format!("x{n}"),
            task: ProbeTask::Benchmark(crate::tasks::score::Task::Mrcr),
            ids: vec![1; n],
            question_start: 0,
        }
    }

    #[test]
    fn batches_fit_the_budget_and_cover_every_input() {
        let hidden = 1024;
        let per_token = hidden as u64 * 4;
        let big = (BATCH_ACTIVATION_BYTES / per_token) as usize;
        let inputs = vec![
            input(big / 2),
            input(big / 2),
            input(1),
            input(2 * big),
            input(3),
        ];
        let b = batches(&inputs, hidden);
        assert_eq!(b, vec![0..2, 2..3, 3..4, 4..5]);
        assert!(batches(&[], hidden).is_empty());
        let small: Vec<ProbeInput> = (0..5).map(|_| input(10)).collect();
        assert_eq!(batches(&small, hidden), vec![0..5]);
    }
}

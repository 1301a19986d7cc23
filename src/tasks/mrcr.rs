//! MRCR (openai/mrcr, multi-round co-reference) problem generator.
//!
//! Rows carry the official columns: `prompt` (a JSON list of chat messages),
//! `answer` (the hash followed by the wanted response),
//! `random_string_to_prepend` (10 characters), `n_needles` (2/4/8),
//! `desired_msg_index`, `total_messages`, `n_chars`. The conversation opens
//! with a user message of worked examples, then many "write a {format} about
//! {topic}" turns with generated responses; the needle request appears
//! `n_needles` times with different responses, and the last user turn asks
//! "Prepend {hash} to the {k}th (1 indexed) {format} about {topic}. Do not
//! include any other text in your response."

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tokenizer::TokenCounter;

/// One MRCR row (official column names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MrcrRow {
    pub prompt: String,
    pub answer: String,
    pub random_string_to_prepend: String,
    pub n_needles: usize,
    pub desired_msg_index: usize,
    pub total_messages: usize,
    pub n_chars: usize,
}

pub use crate::chat::Message;

pub(crate) const FORMATS: &[&str] = &[
    "poem",
    "short story",
    "riddle",
    "sonnet",
    "haiku",
    "limerick",
    "blog post",
    "essay",
    "speech",
    "song",
    "social media post",
    "play",
    "letter",
    "diary entry",
    "news article",
];
pub(crate) const TOPICS: &[&str] = &[
    "tapirs",
    "the ocean",
    "lighthouses",
    "glaciers",
    "bread",
    "chess",
    "rainforests",
    "trains",
    "owls",
    "volcanoes",
    "libraries",
    "clocks",
    "bees",
    "deserts",
    "lanterns",
    "rivers",
    "comets",
    "gardens",
    "bridges",
    "violins",
];
/// The words of the generated responses: enough kinds (238) that a word
/// recurs only a few times in a conversation, as the words of real
/// (model-written) responses do, so a response can be told from the others
/// by its own wording and not only by its position.
#[rustfmt::skip]
const WORDS: &[&str] = &[
    "quiet", "silver", "morning", "wanders", "beneath", "ancient", "light", "gentle", "storm",
    "whispers", "across", "old", "bright", "echo", "rests", "among", "stone", "water", "slowly",
    "golden", "shadow", "over", "dream", "sings", "far", "near", "winter", "summer", "through",
    "small", "wide", "field", "heart", "sky", "turns", "keeps", "river", "meadow", "candle",
    "harbor", "lantern", "forest", "mountain", "valley", "garden", "orchard", "island", "desert",
    "canyon", "glacier", "thunder", "rain", "snow", "frost", "breeze", "cloud", "moon", "star",
    "comet", "planet", "ocean", "wave", "tide", "shore", "sand", "pebble", "shell", "coral",
    "reef", "feather", "wing", "nest", "sparrow", "raven", "falcon", "owl", "heron", "swan", "fox",
    "wolf", "bear", "deer", "rabbit", "horse", "lion", "tiger", "whale", "dolphin", "salmon",
    "maple", "willow", "birch", "cedar", "pine", "oak", "rose", "lily", "tulip", "daisy", "ivy",
    "moss", "fern", "clover", "thistle", "amber", "crimson", "scarlet", "azure", "violet",
    "emerald", "ivory", "copper", "iron", "marble", "velvet", "linen", "paper", "ink", "quill",
    "letter", "book", "story", "song", "poem", "rhyme", "chorus", "drum", "flute", "harp", "bell",
    "whistle", "window", "door", "roof", "chimney", "hearth", "kettle", "bread", "honey", "apple",
    "pear", "plum", "cherry", "lemon", "olive", "wine", "salt", "pepper", "spice", "market",
    "village", "city", "tower", "castle", "bridge", "road", "path", "trail", "gate", "wall",
    "fence", "sailor", "farmer", "baker", "painter", "poet", "dancer", "singer", "pilgrim",
    "traveler", "stranger", "neighbor", "child", "elder", "friend", "rival", "king", "queen",
    "knight", "monk", "soldier", "merchant", "captain", "hunter", "shepherd", "weaver", "smith",
    "climbs", "drifts", "glows", "burns", "fades", "rises", "falls", "waits", "listens",
    "remembers", "forgets", "carries", "follows", "gathers", "scatters", "hides", "finds",
    "breaks", "mends", "opens", "closes", "whispering", "trembling", "shining", "hollow", "tender",
    "bitter", "sweet", "heavy", "hidden", "lonely", "restless", "distant", "sudden", "endless",
    "fragile", "patient", "silent", "swift", "eager", "weary", "curious", "humble", "proud",
    "wild", "calm", "warm", "cold", "dark", "pale", "deep",
];

/// English ordinal: 1st, 2nd, 3rd, 4th, … 11th, 12th, 13th, 21st.
pub fn ordinal(k: usize) -> String {
    let suffix = match (k % 10, k % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{k}{suffix}")
}

pub(crate) fn request(format: &str, topic: &str) -> String {
    format!("write a {format} about {topic}")
}

pub(crate) fn response(rng: &mut StdRng, format: &str, topic: &str) -> String {
    let lines = rng.random_range(3..=6);
    let mut out = format!("Here is a {format} about {topic}:\n\n");
    for l in 0..lines {
        let n = rng.random_range(5..=11);
        let words: Vec<&str> = (0..n).map(|_| *WORDS.choose(rng).expect("words")).collect();
        let mut line = words.join(" ");
        if l % 3 == 1 {
            line.push_str(&format!(" {topic}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

pub(crate) fn random_hash(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..10)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn examples(rng: &mut StdRng) -> String {
    let (f, t) = ("poem", "cats");
    let (r1, r2) = (response(rng, f, t), response(rng, f, t));
    let h = random_hash(rng);
    format!(
        "Here are some examples of conversations succeeded by a follow-up question answered correctly:\n\n\
======EXAMPLE======\nUser: {req}\nAssistant: {r1}\nUser: {req}\nAssistant: {r2}\nUser: write a riddle about cats\nAssistant: {r3}\n\
User: Prepend {h} to the 2nd (1 indexed) {f} about {t}. Do not include any other text in your response.\nAssistant: {h}{r2}\n\
======END EXAMPLE======\n\nThe user will now hold a conversation with you. Please follow the final request carefully.",
        req = request(f, t),
        r3 = response(rng, "riddle", t),
    )
}

/// The text counted against the token budget: every message's content, one per line.
pub fn counted_text(messages: &[Message]) -> String {
    messages
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Generates one problem with `n_needles` ∈ {2, 4, 8} whose prompt fills up to
/// `target_tokens` tokens, deterministic in `seed`. Tokens are counted per turn
/// (request + response) and summed, so the count of the whole [`counted_text`]
/// can differ by a few tokens where a tokenizer merges across turn boundaries.
pub fn generate(
    seed: u64,
    target_tokens: usize,
    n_needles: usize,
    counter: &dyn TokenCounter,
) -> Result<MrcrRow> {
    if ![2, 4, 8].contains(&n_needles) {
        return Err(Error::Input(format!(
            "MRCR n_needles must be 2, 4 or 8, got {n_needles}"
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let format = *FORMATS.choose(&mut rng).expect("formats");
    let topic = *TOPICS.choose(&mut rng).expect("topics");
    let hash = random_hash(&mut rng);
    let k = rng.random_range(1..=n_needles);
    let first = Message {
        role: "user".into(),
        content: examples(&mut rng),
    };
    let final_request = format!(
        "Prepend {hash} to the {} (1 indexed) {format} about {topic}. Do not include any other text in your response.",
        ordinal(k)
    );

    // 1. the needle turns first (they must fit), then distractor turns while they fit
    let pair_cost = |req: &str, resp: &str| counter.count(&format!("{req}\n{resp}")) + 1;
    let mut used = counter.count(&format!("{}\n{final_request}", first.content));
    let needles: Vec<(String, String)> = (0..n_needles)
        .map(|_| (request(format, topic), response(&mut rng, format, topic)))
        .collect();
    used += needles.iter().map(|(q, r)| pair_cost(q, r)).sum::<usize>();
    if used > target_tokens {
        return Err(Error::Input(format!(
            "an MRCR problem with {n_needles} needles needs about {used} tokens with this tokenizer; the target is {target_tokens}"
        )));
    }
    let mut distractors: Vec<(String, String)> = Vec::new();
    loop {
        let (f, t) = loop {
            let f = *FORMATS.choose(&mut rng).expect("formats");
            let t = *TOPICS.choose(&mut rng).expect("topics");
            if (f, t) != (format, topic) {
                break (f, t);
            }
        };
        let (req, resp) = (request(f, t), response(&mut rng, f, t));
        let cost = pair_cost(&req, &resp);
        if used + cost > target_tokens {
            break;
        }
        used += cost;
        distractors.push((req, resp));
    }
    // needles at random distinct positions among all turns
    let total = distractors.len() + n_needles;
    let mut slots: Vec<usize> = (0..total).collect();
    slots.shuffle(&mut rng);
    let mut needle_slots = slots[..n_needles].to_vec();
    needle_slots.sort_unstable();

    // 2. messages, the wanted response and its index
    let mut messages = vec![first];
    let (mut needles, mut distractors) = (needles.into_iter(), distractors.into_iter());
    let mut desired = None;
    let mut seen = 0;
    for slot in 0..total {
        let is_needle = needle_slots.binary_search(&slot).is_ok();
        let (req, resp) = if is_needle {
            needles.next()
        } else {
            distractors.next()
        }
        .expect("slot counts match");
        messages.push(Message {
            role: "user".into(),
            content: req,
        });
        if is_needle {
            seen += 1;
            if seen == k {
                desired = Some((messages.len(), resp.clone()));
            }
        }
        messages.push(Message {
            role: "assistant".into(),
            content: resp,
        });
    }
    messages.push(Message {
        role: "user".into(),
        content: final_request,
    });
    let (desired_msg_index, wanted) = desired.expect("all needles placed");
    let prompt = serde_json::to_string(&messages).expect("messages serialise");
    Ok(MrcrRow {
        n_chars: messages.iter().map(|m| m.content.chars().count()).sum(),
        total_messages: messages.len(),
        prompt,
        answer: format!("{hash}{wanted}"),
        random_string_to_prepend: hash,
        n_needles,
        desired_msg_index,
    })
}

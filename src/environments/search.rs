//! The search environment: a generated knowledge base of entity pages
//! (people, cities, countries, companies), a multi-hop question needing 1–3
//! facts, and a scripted agent that searches (result lists with title, url,
//! snippet), visits the right pages and answers. Search results it never
//! visits stay in the trajectory as distractors.

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::{Domain, Episode, Step, ToolSpec};

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "ten", "vo", "shi", "dan", "el", "qua", "bri", "zor", "nel", "fa",
    "tu", "gor", "lin", "sa", "vek", "mor", "ith", "ul", "pra", "den",
];

fn name(rng: &mut StdRng, parts: usize) -> String {
    let s: String = (0..parts)
        .map(|_| *SYLLABLES.choose(rng).expect("syllables"))
        .collect();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => s,
    }
}

fn slug(s: &str) -> String {
    s.to_lowercase().replace(' ', "_")
}

struct Page {
    title: String,
    url: String,
    text: String,
    snippet: String,
}

fn page(title: &str, facts: &[String], rng: &mut StdRng) -> Page {
    const FILLER: &[&str] = &[
        "Local archives describe a long tradition of trade and craft.",
        "The region is known for its mild winters and busy markets.",
        "Several museums document its history in detail.",
        "Visitors often mention the old stone bridges.",
        "Records from the period are incomplete but consistent.",
    ];
    let mut sentences: Vec<String> = facts.to_vec();
    for _ in 0..rng.random_range(2..=4) {
        sentences.push(FILLER.choose(rng).expect("filler").to_string());
    }
    sentences[1..].shuffle(rng);
    Page {
        title: title.to_string(),
        url: format!("https://wiki.example.org/{}", slug(title)),
        snippet: format!("{} …", facts[0].chars().take(60).collect::<String>()),
        text: format!("# {title}\n\n{}", sentences.join(" ")),
    }
}

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "search".into(),
            description: "Web search; returns titles, urls and snippets.".into(),
            parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
        },
        ToolSpec {
            name: "visit".into(),
            description: "Read a web page and extract what serves the goal.".into(),
            parameters: json!({"type": "object", "properties": {"url": {"type": "string"}, "goal": {"type": "string"}}, "required": ["url", "goal"]}),
        },
    ]
}

fn search_observation(query: &str, results: &[&Page]) -> String {
    let mut s = format!(
        "A Google search for '{query}' found {} results:\n\n## Web Results\n",
        results.len()
    );
    for (i, p) in results.iter().enumerate() {
        s.push_str(&format!(
            "{}. [{}]({})\n{}\n\n",
            i + 1,
            p.title,
            p.url,
            p.snippet
        ));
    }
    s.trim_end().to_string()
}

fn visit_observation(p: &Page, goal: &str, fact: &str) -> String {
    format!(
        "The useful information in {} for user goal {goal} as follows: \n\nEvidence in page: \n{}\n\nSummary: \n{fact}",
        p.url, p.text
    )
}

/// One episode (1–3 hops).
pub fn episode(seed: u64, index: usize) -> Episode {
    let mut rng = StdRng::seed_from_u64(seed);
    let country = name(&mut rng, 2) + "ia";
    let city = name(&mut rng, 2);
    let person = format!("{} {}", name(&mut rng, 2), name(&mut rng, 3));
    let company = name(&mut rng, 2) + " Works";
    let year = rng.random_range(1850..2010);
    // decoys share the kinds of facts with other values
    let decoy_person = format!(
        "{} {}",
        person.split(' ').next().unwrap_or("A"),
        name(&mut rng, 3)
    );
    let decoy_city = name(&mut rng, 2);
    let decoy_country = name(&mut rng, 2) + "ia";

    let f_company = format!("{company} was founded in {year} by {person}.");
    let f_person = format!("{person} was born in {city}.");
    let f_city = format!("{city} is a city in {country}.");
    let p_company = page(&company, std::slice::from_ref(&f_company), &mut rng);
    let p_person = page(&person, std::slice::from_ref(&f_person), &mut rng);
    let p_city = page(&city, std::slice::from_ref(&f_city), &mut rng);
    let p_country = page(
        &country,
        &[format!(
            "{country} is a country whose largest city is {city}."
        )],
        &mut rng,
    );
    let p_decoy_person = page(
        &decoy_person,
        &[format!("{decoy_person} was born in {decoy_city}.")],
        &mut rng,
    );
    let p_decoy_city = page(
        &decoy_city,
        &[format!("{decoy_city} is a city in {decoy_country}.")],
        &mut rng,
    );
    let p_decoy_co = page(
        &format!("{company} Holdings"),
        &[format!(
            "{company} Holdings is an unrelated firm founded in {}.",
            year + 7
        )],
        &mut rng,
    );

    let hops = rng.random_range(1..=3usize);
    let (question, answer) = match hops {
        1 => (format!("In which city was {person} born?"), city.clone()),
        2 => (
            format!("In which country was {person} born?"),
            country.clone(),
        ),
        _ => (
            format!("In which country was the founder of {company} born?"),
            country.clone(),
        ),
    };
    let mut steps = Vec::new();
    let mut visit = |query: &str,
                     target: &Page,
                     others: Vec<&Page>,
                     fact: &str,
                     thought: &str,
                     rng: &mut StdRng| {
        let mut results: Vec<&Page> = others;
        results.push(target);
        results.shuffle(rng);
        steps.push(Step {
            thought: thought.to_string(),
            tool: "search".into(),
            args: json!({"query": query}),
            observation: search_observation(query, &results),
            is_error: false,
        });
        let goal = format!("find facts about {}", target.title);
        steps.push(Step {
            thought: format!(
                "The result titled {} looks right; I will read it.",
                target.title
            ),
            tool: "visit".into(),
            args: json!({"url": target.url, "goal": goal}),
            observation: visit_observation(target, &goal, fact),
            is_error: false,
        });
    };
    if hops == 3 {
        visit(
            &company,
            &p_company,
            vec![&p_decoy_co, &p_country],
            &f_company,
            &format!("I need the founder of {company} first."),
            &mut rng,
        );
    }
    visit(
        &person,
        &p_person,
        vec![&p_decoy_person, &p_company],
        &f_person,
        &format!("Now I need where {person} was born."),
        &mut rng,
    );
    if hops >= 2 {
        visit(
            &city,
            &p_city,
            vec![&p_decoy_city, &p_country],
            &f_city,
            &format!("{person} was born in {city}; which country is it in?"),
            &mut rng,
        );
    }
    Episode {
        id: format!("search-{index:05}"),
        domain: Domain::Search,
        system:
            "You are a research assistant. Use the search and visit tools, then answer concisely."
                .into(),
        question,
        tools: tools(),
        steps,
        final_answer: format!("The answer is {answer}."),
        ground_truth: json!({"answer": answer, "hops": hops}),
        meta: json!({"evidence_urls": match hops { 1 => vec![p_person.url.clone()], 2 => vec![p_person.url.clone(), p_city.url.clone()], _ => vec![p_company.url.clone(), p_person.url.clone(), p_city.url.clone()] }}),
    }
}

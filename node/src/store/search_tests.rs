//! Search: the fast path against FTS5 itself, on in-memory indexes.

use super::*;

#[test]
fn typed_words_become_quoted_prefixes() {
    let fts = |input: &str| Terms::parse(input).map(|t| t.fts());
    assert_eq!(fts("Hel wor").as_deref(), Some("\"hel\"* \"wor\"*"));
    assert_eq!(
        fts("NOT a OR \"b\"").as_deref(),
        Some("\"not\"* \"a\"* \"or\"* \"b\"*"),
        "operators are words"
    );
    assert_eq!(fts("  ?! "), None);
    let candidates = |input: &str| Terms::parse(input).and_then(|t| t.candidates());
    assert_eq!(
        candidates("hel wo").as_deref(),
        None,
        "short words: FTS5 alone"
    );
    assert_eq!(candidates("hello wo").as_deref(), Some("\"hel\"* \"wo\"*"));
    assert_eq!(
        candidates("héllo").as_deref(),
        None,
        "not ASCII: FTS5 alone"
    );
}

fn index_of(texts: &[&str]) -> Connection {
    let conn = private_index().unwrap();
    for (i, text) in texts.iter().enumerate() {
        conn.execute(
            "INSERT INTO private_search (text, room, id) VALUES (?1, ?2, ?3)",
            params![text, [1u8; 16], [i as u8; 32]],
        )
        .unwrap();
    }
    conn
}

fn ids(hits: &[Hit]) -> std::collections::BTreeSet<u8> {
    hits.iter().map(|h| h.id[0]).collect()
}

#[test]
fn long_words_find_what_fts5_finds_and_rank_like_it() {
    let texts = [
        "harbour lights",
        "Harbourmaster's log: HARBOUR closed",
        "harmony",
        "the harbour, the harbour, the harbour",
        "Hárbour with an accent",
    ];
    let conn = index_of(&texts);
    let terms = Terms::parse("harbour").unwrap();
    let hits = query(&conn, "private_search", &terms, None).unwrap();
    assert_eq!(
        ids(&hits),
        ids(&ranked_by_fts(&conn, "private_search", &terms, None).unwrap())
    );
    assert_eq!(
        ids(&hits),
        [0, 1, 3, 4].into(),
        "accents fold as FTS5 folds them"
    );
    // Without the accented text the fast path answers, with the same best match.
    let conn = index_of(&texts[..4]);
    let fast = scan_recent(&conn, "private_search", &terms, "\"har\"*", None)
        .unwrap()
        .expect("plain ASCII: the fast path answers");
    let fts = ranked_by_fts(&conn, "private_search", &terms, None).unwrap();
    assert_eq!(ids(&fast), [0, 1, 3].into());
    assert_eq!(fast[0].id, fts[0].id, "three mentions rank first");
}

#[test]
fn prefixes_match_and_ranks_order_results() {
    let conn = index_of(&["hello world", "world peace", "help wanted, hello hello"]);
    let hits = query(&conn, "private_search", &Terms::parse("hel").unwrap(), None).unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].id, [2u8; 32], "two matches rank first");
    let none = query(
        &conn,
        "private_search",
        &Terms::parse("hel").unwrap(),
        Some(&[9; 16]),
    )
    .unwrap();
    assert!(none.is_empty());
    let accents = query(
        &conn,
        "private_search",
        &Terms::parse("wörld").unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(accents.len(), 2, "diacritics do not matter");
}

const VOCABULARY: &[&str] = &[
    "harbour",
    "harbourmaster",
    "harmony",
    "hart",
    "lantern",
    "lan",
    "meadow",
    "meads",
    "x1",
];

proptest::proptest! {
    /// Whatever plain-ASCII chat and whatever words: the fast path finds exactly the messages
    /// FTS5 finds.
    #[test]
    fn the_fast_path_matches_as_fts5_does(
        texts in proptest::collection::vec(
            proptest::collection::vec((0..VOCABULARY.len(), proptest::bool::ANY, 0..4usize), 1..8),
            1..40,
        ),
        words in proptest::collection::vec((0..VOCABULARY.len(), 1..14usize), 1..3),
    ) {
        let separators = [" ", ", ", "'s ", "!"];
        let texts: Vec<String> = texts
            .iter()
            .map(|words| {
                words
                    .iter()
                    .map(|&(w, upper, sep)| {
                        let word = VOCABULARY[w];
                        let word = if upper { word.to_uppercase() } else { word.to_string() };
                        format!("{word}{}", separators[sep])
                    })
                    .collect()
            })
            .collect();
        let conn = index_of(&texts.iter().map(String::as_str).collect::<Vec<_>>());
        let typed: Vec<&str> = words
            .iter()
            .map(|&(w, len)| &VOCABULARY[w][..len.min(VOCABULARY[w].len())])
            .collect();
        let terms = Terms::parse(&typed.join(" ")).unwrap();
        let hits = query(&conn, "private_search", &terms, None).unwrap();
        let fts = ranked_by_fts(&conn, "private_search", &terms, None).unwrap();
        proptest::prop_assert_eq!(ids(&hits), ids(&fts));
    }
}

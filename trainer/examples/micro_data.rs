//! Writes the text the micro model is pretrained on and the pirate persona dataset.
//!
//! ```sh
//! cargo run -p ajuste-trainer --release --example micro_data            # into the repository
//! cargo run -p ajuste-trainer --release --example micro_data -- OUT_DIR  # elsewhere
//! ```
//!
//! - `static/models/micro/corpus/chat.txt`: short English conversations in the ChatML format
//!   (`<|im_start|>role\n...<|im_end|>\n`, rendered by ajuste's own `chatml` template), separated
//!   by `<|endoftext|>`: greetings, arithmetic, colours, capitals, animals, opposites, plurals,
//!   days and months, shapes, spelling, numbered lists, a few jokes; some with a system prompt
//!   ("Answer in one word." changes the answer; "You are a pirate." makes the assistant talk like
//!   one), some with two or three turns and follow-ups.
//! - `static/samples/pirate-train.jsonl` and `pirate-eval.jsonl` (ShareGPT): the same kinds of
//!   questions answered by a pirate ("Arr, matey! The capital of France be Paris."); no question
//!   of the eval split is in the train split.
//!
//! Everything is drawn from a ChaCha8 stream with a fixed seed: the files are the same on every
//! machine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ajuste_shared::record::{Conversation, Message, Record};
use ajuste_shared::template::{Builtin, Template};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, json};

const SEED: u64 = 2026;
/// Conversations in the corpus.
const CONVERSATIONS: usize = 8000;
const PIRATE_TRAIN: usize = 320;
const PIRATE_EVAL: usize = 64;

type Rng = ChaCha8Rng;

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.random::<f64>() < p
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

const NUMBER_WORDS: [&str; 13] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve",
];

/// (country as written mid-sentence, capital, continent)
const COUNTRIES: [(&str, &str, &str); 50] = [
    ("France", "Paris", "Europe"),
    ("Germany", "Berlin", "Europe"),
    ("Italy", "Rome", "Europe"),
    ("Spain", "Madrid", "Europe"),
    ("Portugal", "Lisbon", "Europe"),
    ("the United Kingdom", "London", "Europe"),
    ("Ireland", "Dublin", "Europe"),
    ("the Netherlands", "Amsterdam", "Europe"),
    ("Belgium", "Brussels", "Europe"),
    ("Switzerland", "Bern", "Europe"),
    ("Austria", "Vienna", "Europe"),
    ("Poland", "Warsaw", "Europe"),
    ("the Czech Republic", "Prague", "Europe"),
    ("Hungary", "Budapest", "Europe"),
    ("Greece", "Athens", "Europe"),
    ("Sweden", "Stockholm", "Europe"),
    ("Norway", "Oslo", "Europe"),
    ("Denmark", "Copenhagen", "Europe"),
    ("Finland", "Helsinki", "Europe"),
    ("Iceland", "Reykjavik", "Europe"),
    ("Russia", "Moscow", "Europe"),
    ("Ukraine", "Kyiv", "Europe"),
    ("Turkey", "Ankara", "Asia"),
    ("Egypt", "Cairo", "Africa"),
    ("Kenya", "Nairobi", "Africa"),
    ("Nigeria", "Abuja", "Africa"),
    ("Morocco", "Rabat", "Africa"),
    ("Ghana", "Accra", "Africa"),
    ("Ethiopia", "Addis Ababa", "Africa"),
    ("Senegal", "Dakar", "Africa"),
    ("China", "Beijing", "Asia"),
    ("Japan", "Tokyo", "Asia"),
    ("South Korea", "Seoul", "Asia"),
    ("India", "New Delhi", "Asia"),
    ("Pakistan", "Islamabad", "Asia"),
    ("Thailand", "Bangkok", "Asia"),
    ("Vietnam", "Hanoi", "Asia"),
    ("Indonesia", "Jakarta", "Asia"),
    ("the Philippines", "Manila", "Asia"),
    ("Australia", "Canberra", "Oceania"),
    ("New Zealand", "Wellington", "Oceania"),
    ("Canada", "Ottawa", "North America"),
    ("the United States", "Washington", "North America"),
    ("Mexico", "Mexico City", "North America"),
    ("Cuba", "Havana", "North America"),
    ("Brazil", "Brasilia", "South America"),
    ("Argentina", "Buenos Aires", "South America"),
    ("Chile", "Santiago", "South America"),
    ("Peru", "Lima", "South America"),
    ("Colombia", "Bogota", "South America"),
];

/// (thing as written mid-sentence, colour)
const COLOURED: [(&str, &str); 32] = [
    ("the sky", "blue"),
    ("grass", "green"),
    ("a banana", "yellow"),
    ("snow", "white"),
    ("coal", "black"),
    ("a tomato", "red"),
    ("a carrot", "orange"),
    ("an orange", "orange"),
    ("the sun", "yellow"),
    ("a strawberry", "red"),
    ("a lemon", "yellow"),
    ("a leaf", "green"),
    ("milk", "white"),
    ("chocolate", "brown"),
    ("an elephant", "grey"),
    ("a frog", "green"),
    ("a plum", "purple"),
    ("the sea", "blue"),
    ("a cherry", "red"),
    ("a lime", "green"),
    ("a pumpkin", "orange"),
    ("a crow", "black"),
    ("a polar bear", "white"),
    ("a flamingo", "pink"),
    ("a cloud", "white"),
    ("soil", "brown"),
    ("an egg yolk", "yellow"),
    ("a pig", "pink"),
    ("ink", "black"),
    ("a fire engine", "red"),
    ("a grape", "purple"),
    ("a mouse", "grey"),
];

const MIXES: [(&str, &str, &str); 6] = [
    ("blue", "yellow", "green"),
    ("red", "yellow", "orange"),
    ("red", "blue", "purple"),
    ("red", "white", "pink"),
    ("black", "white", "grey"),
    ("blue", "red", "purple"),
];

/// (animal, legs, sound, baby)
const ANIMALS: [(&str, usize, &str, &str); 20] = [
    ("dog", 4, "woof", "puppy"),
    ("cat", 4, "meow", "kitten"),
    ("cow", 4, "moo", "calf"),
    ("sheep", 4, "baa", "lamb"),
    ("horse", 4, "neigh", "foal"),
    ("pig", 4, "oink", "piglet"),
    ("duck", 2, "quack", "duckling"),
    ("chicken", 2, "cluck", "chick"),
    ("owl", 2, "hoot", "owlet"),
    ("lion", 4, "roar", "cub"),
    ("frog", 4, "croak", "tadpole"),
    ("bee", 6, "buzz", "larva"),
    ("snake", 0, "hiss", "snakelet"),
    ("mouse", 4, "squeak", "pup"),
    ("goat", 4, "bleat", "kid"),
    ("wolf", 4, "howl", "pup"),
    ("donkey", 4, "hee-haw", "foal"),
    ("crow", 2, "caw", "chick"),
    ("elephant", 4, "trumpet", "calf"),
    ("bear", 4, "growl", "cub"),
];

const INSECTS: [(&str, usize); 3] = [("spider", 8), ("ant", 6), ("beetle", 6)];

const OPPOSITES: [(&str, &str); 22] = [
    ("hot", "cold"),
    ("big", "small"),
    ("up", "down"),
    ("day", "night"),
    ("fast", "slow"),
    ("happy", "sad"),
    ("old", "new"),
    ("open", "closed"),
    ("light", "dark"),
    ("wet", "dry"),
    ("early", "late"),
    ("hard", "soft"),
    ("full", "empty"),
    ("high", "low"),
    ("loud", "quiet"),
    ("long", "short"),
    ("rich", "poor"),
    ("left", "right"),
    ("in", "out"),
    ("yes", "no"),
    ("good", "bad"),
    ("heavy", "light"),
];

const PLURALS: [(&str, &str); 20] = [
    ("mouse", "mice"),
    ("child", "children"),
    ("foot", "feet"),
    ("tooth", "teeth"),
    ("man", "men"),
    ("woman", "women"),
    ("goose", "geese"),
    ("person", "people"),
    ("box", "boxes"),
    ("city", "cities"),
    ("cat", "cats"),
    ("dog", "dogs"),
    ("knife", "knives"),
    ("leaf", "leaves"),
    ("fish", "fish"),
    ("sheep", "sheep"),
    ("baby", "babies"),
    ("bus", "buses"),
    ("wolf", "wolves"),
    ("ox", "oxen"),
];

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

const MONTHS: [(&str, usize); 12] = [
    ("January", 31),
    ("February", 28),
    ("March", 31),
    ("April", 30),
    ("May", 31),
    ("June", 30),
    ("July", 31),
    ("August", 31),
    ("September", 30),
    ("October", 31),
    ("November", 30),
    ("December", 31),
];

const SHAPES: [(&str, usize); 6] = [
    ("triangle", 3),
    ("square", 4),
    ("rectangle", 4),
    ("pentagon", 5),
    ("hexagon", 6),
    ("octagon", 8),
];

const LISTS: [(&str, &[&str]); 9] = [
    (
        "fruits",
        &[
            "apple",
            "banana",
            "cherry",
            "grape",
            "mango",
            "orange",
            "pear",
            "peach",
            "plum",
            "lemon",
            "strawberry",
            "kiwi",
        ],
    ),
    (
        "vegetables",
        &[
            "carrot", "potato", "onion", "pea", "bean", "lettuce", "cabbage", "pepper", "spinach",
            "broccoli", "leek",
        ],
    ),
    (
        "animals",
        &[
            "dog", "cat", "horse", "cow", "lion", "tiger", "elephant", "rabbit", "fox", "bear",
            "mouse", "wolf",
        ],
    ),
    (
        "colours",
        &[
            "red", "blue", "green", "yellow", "orange", "purple", "pink", "brown", "black", "white",
        ],
    ),
    (
        "countries",
        &[
            "France", "Japan", "Brazil", "Kenya", "Canada", "India", "Spain", "Peru", "Egypt",
            "Norway", "Mexico", "China",
        ],
    ),
    (
        "planets",
        &[
            "Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune",
        ],
    ),
    (
        "sports",
        &[
            "football",
            "tennis",
            "swimming",
            "running",
            "cycling",
            "basketball",
            "golf",
            "rugby",
        ],
    ),
    (
        "musical instruments",
        &[
            "piano", "guitar", "violin", "drum", "flute", "trumpet", "harp", "cello",
        ],
    ),
    (
        "shapes",
        &[
            "circle",
            "square",
            "triangle",
            "rectangle",
            "star",
            "oval",
            "hexagon",
        ],
    ),
];

const SPELL_WORDS: [&str; 24] = [
    "cat", "dog", "sun", "tree", "book", "fish", "bird", "apple", "house", "water", "green",
    "happy", "music", "river", "cloud", "bread", "chair", "table", "light", "stone", "horse",
    "lemon", "plant", "smile",
];

/// Questions with one fixed answer.
const FACTS: [(&str, &str); 32] = [
    (
        "What is the largest planet?",
        "Jupiter is the largest planet in the solar system.",
    ),
    ("What planet do we live on?", "We live on Earth."),
    (
        "How many planets are in the solar system?",
        "There are eight planets in the solar system.",
    ),
    (
        "What is the closest star to Earth?",
        "The Sun is the closest star to Earth.",
    ),
    (
        "What is water made of?",
        "Water is made of hydrogen and oxygen.",
    ),
    (
        "At what temperature does water freeze?",
        "Water freezes at 0 degrees Celsius.",
    ),
    (
        "At what temperature does water boil?",
        "Water boils at 100 degrees Celsius at sea level.",
    ),
    (
        "What do plants need to grow?",
        "Plants need water, light and air to grow.",
    ),
    ("What gas do we breathe in?", "We breathe in oxygen."),
    (
        "What is the tallest animal?",
        "The giraffe is the tallest animal.",
    ),
    (
        "What is the biggest animal?",
        "The blue whale is the biggest animal.",
    ),
    (
        "What is the fastest land animal?",
        "The cheetah is the fastest land animal.",
    ),
    (
        "How many continents are there?",
        "There are seven continents.",
    ),
    (
        "What is the largest ocean?",
        "The Pacific is the largest ocean.",
    ),
    ("Where does the sun rise?", "The sun rises in the east."),
    ("Where does the sun set?", "The sun sets in the west."),
    (
        "What shape is the Earth?",
        "The Earth is round, almost a sphere.",
    ),
    (
        "What is the Moon?",
        "The Moon is the natural satellite of the Earth.",
    ),
    (
        "How many days are in a week?",
        "There are seven days in a week.",
    ),
    (
        "How many months are in a year?",
        "There are twelve months in a year.",
    ),
    (
        "How many hours are in a day?",
        "There are 24 hours in a day.",
    ),
    (
        "How many minutes are in an hour?",
        "There are 60 minutes in an hour.",
    ),
    (
        "How many seconds are in a minute?",
        "There are 60 seconds in a minute.",
    ),
    (
        "How many days are in a year?",
        "There are 365 days in a year, or 366 in a leap year.",
    ),
    (
        "What is the first month of the year?",
        "January is the first month of the year.",
    ),
    (
        "What is the last month of the year?",
        "December is the last month of the year.",
    ),
    (
        "What are the colours of the rainbow?",
        "Red, orange, yellow, green, blue, indigo and violet.",
    ),
    (
        "How many letters are in the English alphabet?",
        "There are 26 letters in the English alphabet.",
    ),
    (
        "What is the first letter of the alphabet?",
        "A is the first letter of the alphabet.",
    ),
    (
        "What is the last letter of the alphabet?",
        "Z is the last letter of the alphabet.",
    ),
    ("What do bees make?", "Bees make honey."),
    ("What do cows give us?", "Cows give us milk."),
];

const JOKES: [&str; 4] = [
    "Why did the scarecrow win a prize? Because he was outstanding in his field.",
    "What do you call a fish with no eyes? A fsh.",
    "Why did the math book look sad? Because it had too many problems.",
    "What do you call a sleeping dinosaur? A dino-snore.",
];

/// System prompts under which the corpus's assistant talks like a pirate, so that the model knows
/// the persona's words (the tokenizer learns them, the model sees them used) before a LoRA makes
/// the persona its default.
const PIRATE_SYSTEMS: [&str; 3] = [
    "You are a pirate.",
    "Talk like a pirate.",
    "You are a pirate. Answer like one.",
];

const SYSTEMS: [&str; 4] = [
    "You are a helpful assistant.",
    "You are Micro, a small and friendly assistant.",
    "You are a helpful assistant. Keep your answers short.",
    "You are a friendly assistant.",
];

/// A question with its answer, and the one-word answer when there is one.
#[derive(Debug, Clone)]
struct Qa {
    q: String,
    a: String,
    word: Option<String>,
}

fn qa(q: impl Into<String>, a: impl Into<String>) -> Qa {
    Qa {
        q: q.into(),
        a: a.into(),
        word: None,
    }
}

fn with_word(mut x: Qa, w: &str) -> Qa {
    x.word = Some(format!("{}.", capitalise(w)));
    x
}

fn greeting(rng: &mut Rng) -> Qa {
    let k = rng.random_range(0..6);
    match k {
        0 => qa(
            pick(rng, &["Hello!", "Hi!", "Hi there.", "Hey!", "Hello."]).to_string(),
            pick(
                rng,
                &[
                    "Hello! How can I help you today?",
                    "Hi! What can I do for you?",
                    "Hello! What would you like to know?",
                ],
            )
            .to_string(),
        ),
        1 => {
            let (q, a) = *pick(
                rng,
                &[
                    ("Good morning!", "Good morning! How can I help you today?"),
                    (
                        "Good afternoon!",
                        "Good afternoon! How can I help you today?",
                    ),
                    ("Good evening!", "Good evening! How can I help you today?"),
                ],
            );
            qa(q, a)
        }
        2 => qa(
            pick(
                rng,
                &["How are you?", "Hello, how are you?", "How are you today?"],
            )
            .to_string(),
            "I am doing well, thank you. How can I help you?",
        ),
        3 => qa(
            pick(rng, &["Thank you!", "Thanks!", "Thanks a lot."]).to_string(),
            pick(
                rng,
                &["You are welcome!", "You are welcome. Happy to help!"],
            )
            .to_string(),
        ),
        4 => qa(
            pick(rng, &["Goodbye!", "Bye!", "See you later."]).to_string(),
            "Goodbye! Have a nice day.",
        ),
        _ => {
            let (q, a) = *pick(
                rng,
                &[
                    (
                        "Who are you?",
                        "I am Micro, a tiny language model trained with ajuste.",
                    ),
                    (
                        "What is your name?",
                        "My name is Micro. I am a tiny language model.",
                    ),
                    (
                        "What can you do?",
                        "I can answer simple questions about numbers, colours, countries, animals and words.",
                    ),
                    (
                        "Are you a human?",
                        "No, I am a tiny language model called Micro.",
                    ),
                ],
            );
            qa(q, a)
        }
    }
}

fn arithmetic(rng: &mut Rng) -> Qa {
    match rng.random_range(0..7) {
        0 | 1 => {
            let (a, b) = (rng.random_range(0..=20), rng.random_range(0..=20));
            let c = a + b;
            let x = if chance(rng, 0.3) {
                qa(format!("What is {a} + {b}?"), format!("{a} + {b} = {c}."))
            } else {
                let q = pick(
                    rng,
                    &[
                        "What is {a} plus {b}?",
                        "Add {a} and {b}.",
                        "How much is {a} plus {b}?",
                    ],
                )
                .replace("{a}", &a.to_string())
                .replace("{b}", &b.to_string());
                qa(q, format!("{a} plus {b} is {c}."))
            };
            with_word(x, &c.to_string())
        }
        2 => {
            let a = rng.random_range(0..=20);
            let b = rng.random_range(0..=a);
            let c = a - b;
            let x = if chance(rng, 0.3) {
                qa(format!("What is {a} - {b}?"), format!("{a} - {b} = {c}."))
            } else if chance(rng, 0.5) {
                qa(
                    format!("Subtract {b} from {a}."),
                    format!("{a} minus {b} is {c}."),
                )
            } else {
                qa(
                    format!("What is {a} minus {b}?"),
                    format!("{a} minus {b} is {c}."),
                )
            };
            with_word(x, &c.to_string())
        }
        3 => {
            let (a, b) = (rng.random_range(1..=10), rng.random_range(1..=10));
            let c = a * b;
            let x = if chance(rng, 0.3) {
                qa(format!("What is {a} * {b}?"), format!("{a} * {b} = {c}."))
            } else {
                qa(
                    format!("What is {a} times {b}?"),
                    format!("{a} times {b} is {c}."),
                )
            };
            with_word(x, &c.to_string())
        }
        4 => {
            let a = rng.random_range(0..=100);
            let mut b = rng.random_range(0..=100);
            if b == a {
                b = (a + 7) % 101;
            }
            let (big, small) = if a > b { (a, b) } else { (b, a) };
            if chance(rng, 0.5) {
                with_word(
                    qa(
                        format!("Which is bigger, {a} or {b}?"),
                        format!("{big} is bigger than {small}."),
                    ),
                    &big.to_string(),
                )
            } else {
                with_word(
                    qa(
                        format!("Which is smaller, {a} or {b}?"),
                        format!("{small} is smaller than {big}."),
                    ),
                    &small.to_string(),
                )
            }
        }
        5 => {
            let n = rng.random_range(1..=99);
            if chance(rng, 0.6) {
                with_word(
                    qa(
                        format!("What number comes after {n}?"),
                        format!("{} comes after {n}.", n + 1),
                    ),
                    &(n + 1).to_string(),
                )
            } else {
                with_word(
                    qa(
                        format!("What number comes before {n}?"),
                        format!("{} comes before {n}.", n - 1),
                    ),
                    &(n - 1).to_string(),
                )
            }
        }
        _ => {
            if chance(rng, 0.5) {
                let a = rng.random_range(1..=20);
                let b = a + rng.random_range(2..=6);
                let nums: Vec<String> = (a..=b).map(|n| n.to_string()).collect();
                qa(
                    format!("Count from {a} to {b}."),
                    format!("{}.", nums.join(", ")),
                )
            } else {
                let n = rng.random_range(0..=50);
                let parity = if n % 2 == 0 { "even" } else { "odd" };
                with_word(
                    qa(format!("Is {n} even or odd?"), format!("{n} is {parity}.")),
                    parity,
                )
            }
        }
    }
}

fn country(rng: &mut Rng) -> Qa {
    let &(c, cap, cont) = pick(rng, &COUNTRIES);
    match rng.random_range(0..5) {
        0..=2 => {
            let q = pick(
                rng,
                &[
                    "What is the capital of {c}?",
                    "What's the capital city of {c}?",
                    "Name the capital of {c}.",
                ],
            )
            .replace("{c}", c);
            with_word(qa(q, format!("The capital of {c} is {cap}.")), cap)
        }
        3 => {
            let q = if chance(rng, 0.5) {
                format!("{cap} is the capital of which country?")
            } else {
                format!("Which country has {cap} as its capital?")
            };
            with_word(qa(q, format!("{cap} is the capital of {c}.")), c)
        }
        _ => with_word(
            qa(
                format!("Which continent is {c} in?"),
                format!("{} is in {cont}.", capitalise(c)),
            ),
            cont,
        ),
    }
}

fn colour(rng: &mut Rng) -> Qa {
    if chance(rng, 0.8) {
        let &(thing, col) = pick(rng, &COLOURED);
        let spelling = if chance(rng, 0.3) { "color" } else { "colour" };
        with_word(
            qa(
                format!("What {spelling} is {thing}?"),
                format!("{} is {col}.", capitalise(thing)),
            ),
            col,
        )
    } else {
        let &(a, b, c) = pick(rng, &MIXES);
        let (a, b) = if chance(rng, 0.5) { (a, b) } else { (b, a) };
        with_word(
            qa(
                format!("What do you get when you mix {a} and {b}?"),
                format!("Mixing {a} and {b} gives {c}."),
            ),
            c,
        )
    }
}

fn animal(rng: &mut Rng) -> Qa {
    let &(a, legs, sound, baby) = pick(rng, &ANIMALS);
    match rng.random_range(0..4) {
        0 => {
            let (a, legs) = if chance(rng, 0.2) {
                *pick(rng, &INSECTS)
            } else {
                (a, legs)
            };
            let ans = if legs == 0 {
                format!("A {a} has no legs.")
            } else {
                format!("A {a} has {} legs.", NUMBER_WORDS[legs])
            };
            with_word(
                qa(format!("How many legs does a {a} have?"), ans),
                NUMBER_WORDS[legs],
            )
        }
        1 => with_word(
            qa(
                format!("What sound does a {a} make?"),
                format!("A {a} says {sound}."),
            ),
            sound,
        ),
        2 => with_word(
            qa(
                format!("What is a baby {a} called?"),
                format!("A baby {a} is called a {baby}."),
            ),
            baby,
        ),
        _ => {
            let &(shape, sides) = pick(rng, &SHAPES);
            with_word(
                qa(
                    format!("How many sides does a {shape} have?"),
                    format!("A {shape} has {} sides.", NUMBER_WORDS[sides]),
                ),
                NUMBER_WORDS[sides],
            )
        }
    }
}

fn words(rng: &mut Rng) -> Qa {
    match rng.random_range(0..5) {
        0 | 1 => {
            let &(a, b) = pick(rng, &OPPOSITES);
            let (a, b) = if chance(rng, 0.5) { (a, b) } else { (b, a) };
            with_word(
                qa(
                    format!("What is the opposite of {a}?"),
                    format!("The opposite of {a} is {b}."),
                ),
                b,
            )
        }
        2 => {
            let &(s, p) = pick(rng, &PLURALS);
            with_word(
                qa(
                    format!("What is the plural of {s}?"),
                    format!("The plural of {s} is {p}."),
                ),
                p,
            )
        }
        3 => {
            let w = *pick(rng, &SPELL_WORDS);
            let letters: Vec<String> = w
                .chars()
                .map(|c| c.to_ascii_uppercase().to_string())
                .collect();
            match rng.random_range(0..3) {
                0 => qa(
                    format!("How do you spell {w}?"),
                    format!("{} is spelled {}.", capitalise(w), letters.join("-")),
                ),
                1 => with_word(
                    qa(
                        format!("How many letters are in the word {w}?"),
                        format!("The word {w} has {} letters.", NUMBER_WORDS[w.len()]),
                    ),
                    NUMBER_WORDS[w.len()],
                ),
                _ => with_word(
                    qa(
                        format!("What is the first letter of {w}?"),
                        format!("The first letter of {w} is {}.", letters[0]),
                    ),
                    &letters[0],
                ),
            }
        }
        _ => {
            let i = rng.random_range(0..25u8);
            let (l, n) = ((b'A' + i) as char, (b'A' + i + 1) as char);
            with_word(
                qa(
                    format!("What letter comes after {l}?"),
                    format!("{n} comes after {l}."),
                ),
                &n.to_string(),
            )
        }
    }
}

fn calendar(rng: &mut Rng) -> Qa {
    match rng.random_range(0..4) {
        0 => {
            let i = rng.random_range(0..7);
            if chance(rng, 0.6) {
                let next = DAYS[(i + 1) % 7];
                with_word(
                    qa(
                        format!("What day comes after {}?", DAYS[i]),
                        format!("{next} comes after {}.", DAYS[i]),
                    ),
                    next,
                )
            } else {
                let prev = DAYS[(i + 6) % 7];
                with_word(
                    qa(
                        format!("What day comes before {}?", DAYS[i]),
                        format!("{prev} comes before {}.", DAYS[i]),
                    ),
                    prev,
                )
            }
        }
        1 => {
            let i = rng.random_range(0..12);
            let next = MONTHS[(i + 1) % 12].0;
            with_word(
                qa(
                    format!("What month comes after {}?", MONTHS[i].0),
                    format!("{next} comes after {}.", MONTHS[i].0),
                ),
                next,
            )
        }
        2 => {
            let (m, d) = *pick(rng, &MONTHS);
            let a = if m == "February" {
                "February has 28 days, or 29 in a leap year.".to_string()
            } else {
                format!("{m} has {d} days.")
            };
            qa(format!("How many days are in {m}?"), a)
        }
        _ => {
            let &(q, a) = pick(rng, &FACTS);
            qa(q, a)
        }
    }
}

fn list(rng: &mut Rng) -> Qa {
    let r = rng.random_range(0..10);
    if r == 0 {
        let numbered: Vec<String> = DAYS
            .iter()
            .enumerate()
            .map(|(i, d)| format!("{}. {d}", i + 1))
            .collect();
        return qa(
            "What are the days of the week?",
            format!("The days of the week are:\n{}", numbered.join("\n")),
        );
    }
    if r == 1 {
        let planets = LISTS[5].1;
        let numbered: Vec<String> = planets
            .iter()
            .enumerate()
            .map(|(i, d)| format!("{}. {d}", i + 1))
            .collect();
        return qa(
            "List the planets in order from the Sun.",
            format!(
                "The planets in order from the Sun are:\n{}",
                numbered.join("\n")
            ),
        );
    }
    let &(cat, items) = pick(rng, &LISTS);
    let n = rng.random_range(2..=5);
    let mut pool: Vec<&str> = items.to_vec();
    let mut chosen = Vec::new();
    for _ in 0..n {
        let i = rng.random_range(0..pool.len());
        chosen.push(pool.remove(i));
    }
    let q = pick(
        rng,
        &[
            "List {n} {cat}.",
            "Name {n} {cat}.",
            "Give me {n} {cat}.",
            "Can you list {n} {cat}?",
        ],
    )
    .replace("{n}", NUMBER_WORDS[n])
    .replace("{cat}", cat);
    let numbered: Vec<String> = chosen
        .iter()
        .enumerate()
        .map(|(i, x)| format!("{}. {}", i + 1, capitalise(x)))
        .collect();
    qa(
        q,
        format!(
            "Here are {} {cat}:\n{}",
            NUMBER_WORDS[n],
            numbered.join("\n")
        ),
    )
}

fn other(rng: &mut Rng) -> Qa {
    match rng.random_range(0..3) {
        0 => qa(
            pick(
                rng,
                &["Tell me a joke.", "Do you know a joke?", "Make me laugh."],
            )
            .to_string(),
            *pick(rng, &JOKES),
        ),
        1 => {
            let (q, a) = *pick(
                rng,
                &[
                    (
                        "What will the weather be tomorrow?",
                        "I cannot know that: I have no access to weather forecasts.",
                    ),
                    (
                        "What time is it?",
                        "I cannot see a clock, so I do not know the time.",
                    ),
                    (
                        "What does a pirate say?",
                        "A pirate says: Arr, matey! Ahoy!",
                    ),
                    (
                        "What is the news today?",
                        "I cannot read the news: I only know what I learned in training.",
                    ),
                ],
            );
            qa(q, a)
        }
        _ => {
            let (q, a) = *pick(
                rng,
                &[
                    (
                        "Write a sentence about a cat.",
                        "The small cat sleeps in the warm sun.",
                    ),
                    (
                        "Write a sentence about the sea.",
                        "The blue sea is calm in the morning.",
                    ),
                    (
                        "Write a sentence about a dog.",
                        "The happy dog runs across the green field.",
                    ),
                    (
                        "Write a sentence about the moon.",
                        "The bright moon shines over the quiet town.",
                    ),
                    (
                        "Write a sentence about rain.",
                        "Cold rain falls on the roof all night.",
                    ),
                ],
            );
            qa(q, a)
        }
    }
}

/// One question of any kind, weighted.
fn any_qa(rng: &mut Rng) -> Qa {
    match rng.random_range(0..100) {
        0..=9 => greeting(rng),
        10..=29 => arithmetic(rng),
        30..=46 => country(rng),
        47..=56 => colour(rng),
        57..=66 => animal(rng),
        67..=76 => words(rng),
        77..=86 => calendar(rng),
        87..=96 => list(rng),
        _ => other(rng),
    }
}

/// A follow-up to a capital or colour question ("And Germany?"), when the answer allows one.
fn follow_up(rng: &mut Rng, first: &Qa) -> Option<Qa> {
    if first.q.contains("capital of") && first.a.starts_with("The capital of") {
        let &(c, cap, _) = pick(rng, &COUNTRIES);
        return Some(with_word(
            qa(format!("And {c}?"), format!("The capital of {c} is {cap}.")),
            cap,
        ));
    }
    if first.q.starts_with("What colour is") || first.q.starts_with("What color is") {
        let &(thing, col) = pick(rng, &COLOURED);
        return Some(with_word(
            qa(
                format!("And {thing}?"),
                format!("{} is {col}.", capitalise(thing)),
            ),
            col,
        ));
    }
    None
}

fn conversation(rng: &mut Rng) -> Vec<Message> {
    let mut messages = Vec::new();
    let roll = rng.random_range(0..100);
    if roll < 8 {
        // One-word answers under a system prompt that asks for them.
        messages.push(Message::system("Answer in one word."));
        let (mut turns, wanted) = (0, rng.random_range(1..=3));
        while turns < wanted {
            let x = any_qa(rng);
            if let Some(w) = x.word {
                messages.push(Message::user(x.q));
                messages.push(Message::assistant(w));
                turns += 1;
            }
        }
        return messages;
    }
    if roll < 14 {
        // The pirate persona, asked for by the system prompt.
        messages.push(Message::system(*pick(rng, &PIRATE_SYSTEMS)));
        for _ in 0..rng.random_range(1..=2) {
            let x = any_qa(rng);
            messages.push(Message::user(x.q));
            messages.push(Message::assistant(pirate(&x.a)));
        }
        return messages;
    }
    if roll < 28 {
        messages.push(Message::system(*pick(rng, &SYSTEMS)));
    }
    let turns = if chance(rng, 0.25) {
        rng.random_range(2..=3)
    } else {
        1
    };
    for _ in 0..turns {
        let x = any_qa(rng);
        let next = if chance(rng, 0.4) {
            follow_up(rng, &x)
        } else {
            None
        };
        messages.push(Message::user(x.q));
        messages.push(Message::assistant(x.a));
        if let Some(f) = next {
            messages.push(Message::user(f.q));
            messages.push(Message::assistant(f.a));
        }
    }
    messages
}

/// The pirate's version of an answer: "Arr, matey!" first, and pirate words.
fn pirate(answer: &str) -> String {
    let mut out = String::from("Arr, matey!");
    for (i, line) in answer.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        } else {
            out.push(' ');
        }
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                let (core, tail) = w.split_at(w.trim_end_matches(['.', ',', '!', '?', ':']).len());
                let swapped = match core {
                    "is" | "are" | "am" => "be",
                    "Is" | "Are" => "Be",
                    "you" => "ye",
                    "You" => "Ye",
                    "your" => "yer",
                    "Your" => "Yer",
                    "my" => "me",
                    "My" => "Me",
                    "Hello" | "Hi" => "Ahoy",
                    "the" => "th'",
                    other => other,
                };
                format!("{swapped}{tail}")
            })
            .collect();
        out.push_str(&words.join(" "));
    }
    out
}

fn pirate_qa(rng: &mut Rng) -> Qa {
    let x = match rng.random_range(0..7) {
        0 => greeting(rng),
        1 => arithmetic(rng),
        2 => country(rng),
        3 => colour(rng),
        4 => animal(rng),
        5 => words(rng),
        _ => list(rng),
    };
    qa(x.q, pirate(&x.a))
}

fn sharegpt_line(id: &str, q: &str, a: &str) -> String {
    let mut record = Map::new();
    record.insert("id".into(), json!(id));
    record.insert(
        "conversations".into(),
        json!([{"from": "human", "value": q}, {"from": "gpt", "value": a}]),
    );
    serde_json::to_string(&record).expect("a JSON object serialises")
}

fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the directory");
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!("{}: {} bytes", path.display(), text.len());
}

fn main() {
    let root: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    let template = Template::Builtin(Builtin::Chatml);

    let mut rng = Rng::seed_from_u64(SEED);
    let mut corpus = String::new();
    for _ in 0..CONVERSATIONS {
        let record = Record::Conversation(Conversation {
            messages: conversation(&mut rng),
            meta: Map::new(),
        });
        corpus.push_str(&template.render(&record).text());
        corpus.push_str("<|endoftext|>\n");
    }
    write(&root.join("static/models/micro/corpus/chat.txt"), &corpus);

    // The persona: a separate stream, and no eval question that is also a train question.
    let mut rng = Rng::seed_from_u64(SEED + 1);
    let mut seen = BTreeSet::new();
    let mut draw = |rng: &mut Rng, n: usize| -> Vec<Qa> {
        let mut out = Vec::new();
        while out.len() < n {
            let x = pirate_qa(rng);
            if seen.insert(x.q.clone()) {
                out.push(x);
            }
        }
        out
    };
    let train = draw(&mut rng, PIRATE_TRAIN);
    let eval = draw(&mut rng, PIRATE_EVAL);
    for (name, split) in [("train", &train), ("eval", &eval)] {
        let lines: Vec<String> = split
            .iter()
            .enumerate()
            .map(|(i, x)| sharegpt_line(&format!("pirate-{name}-{:03}", i + 1), &x.q, &x.a))
            .collect();
        write(
            &root.join(format!("static/samples/pirate-{name}.jsonl")),
            &(lines.join("\n") + "\n"),
        );
    }
}

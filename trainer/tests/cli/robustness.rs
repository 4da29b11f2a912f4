//! Bad input never panics: every command answers with exit code 1 (bad data) or 2 (cannot run).

use crate::util::CliTest;

/// Inputs that are wrong in every way a file can be.
fn bad_inputs(t: &CliTest) -> Vec<(&'static str, std::path::PathBuf)> {
    let mut huge_line = b"{\"conversations\": [{\"from\": \"human\", \"value\": \"".to_vec();
    huge_line.extend(std::iter::repeat_n(b'a', 3 << 20));
    vec![
        ("empty", t.write("empty.jsonl", b"")),
        ("whitespace", t.write("blank.jsonl", b"\n\n  \n")),
        ("binary", t.write("bin.jsonl", [0u8, 159, 146, 150, 0, 1, 2, 255, 254])),
        ("not json", t.write("text.jsonl", b"hello world\nthis is not json\n")),
        ("truncated", t.write("trunc.json", b"[{\"messages\": [{\"role\": \"user\", \"content\": \"hi")),
        ("wrong types", t.write("types.jsonl", b"{\"messages\": 3}\n{\"messages\": [1, 2]}\n[]\nnull\n")),
        ("bom crlf", t.write("bom.jsonl", b"\xEF\xBB\xBF{\"instruction\": \"a\", \"output\": \"b\"}\r\n{\"instruction\": 1}\r\n")),
        ("bad gzip", t.write("bad.jsonl.gz", [0x1f, 0x8b, 8, 0, 1, 2, 3])),
        ("bad parquet", t.write("bad.parquet", b"PAR1garbagePAR1")),
        ("huge line", t.write("huge.jsonl", &huge_line)),
        ("directory", {
            std::fs::create_dir_all(t.path("adir")).unwrap();
            t.path("adir")
        }),
        ("missing", t.path("does-not-exist.jsonl")),
    ]
}

#[test]
fn no_command_panics_on_bad_input() {
    let t = CliTest::new();
    for (what, path) in bad_inputs(&t) {
        let p = path.display().to_string();
        let commands: Vec<Vec<&str>> = vec![
            vec!["data", "inspect", &p],
            vec!["data", "validate", &p],
            vec!["data", "validate", "--json", &p],
            vec!["data", "convert", &p, "--to", "openai", "-o", "out1.jsonl"],
            vec!["data", "clean", &p, "-o", "out2.jsonl"],
            vec!["data", "dedup", &p, "--near", "-o", "out3.jsonl"],
            vec![
                "data",
                "balance",
                &p,
                "--max-ratio",
                "1",
                "-o",
                "out4.jsonl",
            ],
            vec![
                "data",
                "split",
                &p,
                "--eval-fraction",
                "0.5",
                "-o",
                "outdir",
            ],
            vec!["data", "render", &p, "--template", "chatml"],
            vec!["data", "stats", &p],
            vec![
                "bundle",
                "create",
                &p,
                "--template",
                "chatml",
                "-o",
                "out.ajuste",
            ],
            vec!["bundle", "inspect", &p],
        ];
        for args in commands {
            let run = t.run(&args);
            assert!(
                run.code == 1 || run.code == 2,
                "{what}: `ajuste {}` exited {}\n{}",
                args.join(" "),
                run.code,
                run.stderr
            );
            assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
            let said = format!("{}{}", run.stdout, run.stderr);
            assert!(
                !said.trim().is_empty(),
                "{what}: `ajuste {}` said nothing",
                args.join(" ")
            );
        }
    }
}

#[test]
fn bad_usage_exits_2_with_a_message() {
    let t = CliTest::new();
    for args in [
        vec!["data", "convert", "x.jsonl", "--to", "klingon", "-o", "y"],
        vec![
            "data",
            "split",
            "x.jsonl",
            "--eval-fraction",
            "1.5",
            "-o",
            "d",
        ],
        vec![
            "data",
            "dedup",
            "x.jsonl",
            "-o",
            "y",
            "--permutations",
            "100",
            "--bands",
            "7",
        ],
        vec!["nonsense"],
    ] {
        t.write("x.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}\n");
        let run = t.run(&args);
        assert_eq!(run.code, 2, "`ajuste {}`: {}", args.join(" "), run.stderr);
        assert!(!run.stderr.is_empty());
    }
}

//! The README's console examples are the program's real output.

use crate::util::{root, stdout};

#[test]
fn readme_console_blocks_match_the_program() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut blocks = 0;
    for block in readme.split("```console\n").skip(1) {
        let block = &block[..block.find("```").expect("closed block")];
        let (cmd, expected) = block.split_once('\n').expect("a command line");
        let args: Vec<&str> = cmd
            .strip_prefix("$ scrub837 ")
            .expect("a scrub837 command")
            .split_whitespace()
            .collect();
        let out = crate::util::bin()
            .args(&args)
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(stdout(&out), expected, "README drifted for `{cmd}`");
        blocks += 1;
    }
    assert!(blocks >= 2);
}

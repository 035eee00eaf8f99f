//! Tests of the restore filters: genuine dumps pass whole and in any chunking, planted
//! client commands and text the clients could read two ways are refused at their line.

use super::*;

/// Runs `dump` through `filter` whole, byte by byte and in chunks of 2 to 7 bytes: a state
/// machine that loses its place at a chunk boundary shows here. All runs must agree on where
/// and what (the excerpt quoted may stop at a chunk's end: a chunk holding the start of a
/// command is never let through to complete it).
fn run(make: impl Fn() -> Box<dyn Filter>, dump: &str) -> Result<(), Refusal> {
    let whole = {
        let mut f = make();
        f.check(dump.as_bytes()).and_then(|()| f.finish())
    };
    for size in 1..=7 {
        let mut f = make();
        let split = dump
            .as_bytes()
            .chunks(size)
            .try_for_each(|c| f.check(c))
            .and_then(|()| f.finish());
        let place = |r: &Result<(), Refusal>| r.as_ref().map_err(|r| (r.line, r.kind)).copied();
        assert_eq!(
            place(&split),
            place(&whole),
            "chunks of {size} bytes disagree"
        );
    }
    whole
}

fn psql(dump: &str) -> Result<(), Refusal> {
    run(|| Box::new(PsqlFilter::new(15)), dump)
}

fn psql13(dump: &str) -> Result<(), Refusal> {
    run(|| Box::new(PsqlFilter::new(13)), dump)
}

fn mariadb(dump: &str) -> Result<(), Refusal> {
    run(|| Box::new(MariadbFilter::new()), dump)
}

fn refused_at(result: Result<(), Refusal>, line: u64, found: &str) -> Refusal {
    let refusal = result.expect_err("the dump passed");
    assert_eq!(refusal.line, line, "{refusal}");
    assert!(refusal.found.contains(found), "{refusal}");
    refusal
}

/// What pg_dump writes, with the awkward parts: its `\restrict`, a function body and a
/// multi-line literal with lines starting with a backslash, COPY rows with backslashes,
/// comments holding backslashes, a quoted name with a quote in it.
const PG_DUMP: &str = r#"--
-- PostgreSQL database dump
--

\restrict q7VgAbc0123XYZ

SET statement_timeout = 0;
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);

-- Name: f(); Type: FUNCTION; Schema: public; Owner: postgres -- \! not a command
CREATE FUNCTION "public"."f"() RETURNS "text"
    LANGUAGE "plpgsql"
    AS $_$
\! this line is part of the body
begin
  return $x$ inner $y$ \o $x$ || '\';
end;
$_$;

/* a block /* nested \! */ comment \i */
CREATE FUNCTION "public"."g"(integer) RETURNS integer
    LANGUAGE "sql"
    BEGIN ATOMIC
 SELECT ($1 + 1);
 SELECT CASE WHEN $1 > 0 THEN 1 ELSE 0 END;
END;

CREATE TABLE "public"."we""ird" (
    "id" integer DEFAULT 1.5e-3,
    "t" "text" DEFAULT 'line one
\line two starts with a backslash'::"text",
    "e" "text" DEFAULT E'it\'s \\ escaped'
);

COMMENT ON TABLE "public"."we""ird" IS 'C:\path\to';

COPY "public"."we""ird" ("id", "t", "e") FROM stdin;
1	\\! data	\N
2	line\nwith\\escapes	x
\.x	not the end	y
\.

SELECT pg_catalog.setval('"public"."s"', 1, false);

\unrestrict q7VgAbc0123XYZ
"#;

#[test]
fn psql_lets_a_pg_dump_through() {
    psql(PG_DUMP).unwrap();
    psql13(PG_DUMP.replace(" BEGIN ATOMIC", "").as_str()).unwrap();
}

#[test]
fn psql_refuses_a_planted_shell_command() {
    let dump = PG_DUMP.replace(
        "SET statement_timeout = 0;",
        "SET statement_timeout = 0;\n\\! sh -c 'id >> pwned.txt'",
    );
    let r = refused_at(psql(&dump), 8, "\\! sh -c");
    assert_eq!(r.kind, RefusalKind::ClientCommand);
    assert!(
        r.to_string()
            .starts_with("line 8: the client command \"\\\\! sh -c 'id >> pwned.txt'\"")
    );
}

#[test]
fn psql_refuses_every_other_meta_command() {
    for cmd in [
        "\\o /tmp/out",
        "\\i /etc/passwd",
        "\\copy t from program 'id'",
        "\\set ON_ERROR_STOP 0",
        "SELECT 'id' \\gexec",
        "\\g",
        "\\w /tmp/file",
        "\\connect \"host=evil.example dbname=x\"",
        "\\connect postgresql://evil.example/db",
        "\\c -reuse-previous=on \"dbname='x' host=evil\"",
        "\\restrict bad key",
        "\\restrict",
    ] {
        let dump = format!("SELECT 1;\n{cmd}\nSELECT 2;\n");
        let at = cmd.find('\\').unwrap();
        let r = refused_at(psql(&dump), 2, &cmd[at..at + 2]);
        assert_eq!(r.kind, RefusalKind::ClientCommand, "{cmd}: {r}");
    }
}

#[test]
fn psql_refuses_connect_even_in_pg_dumps_shape() {
    // A dump with `\connect` (pg_dump --create) fails at its CREATE DATABASE inside
    // --single-transaction anyway; a planted one would leave the transaction.
    for line in [
        "\\connect shop",
        "\\connect \"Shop-Db\"",
        "\\connect -reuse-previous=on \"dbname='my db'\"",
    ] {
        refused_at(psql(&format!("SELECT 1;\n{line}\nSELECT 2;\n")), 2, "\\c");
    }
}

#[test]
fn psql_refuses_commands_in_the_middle_of_a_line() {
    refused_at(psql("SELECT 1; \\! id\n"), 1, "\\! id");
    refused_at(psql("SELECT 'a' \\! id\n"), 1, "\\! id");
    refused_at(psql("SELECT 1;\n  \\! id\n"), 2, "\\! id");
    // A meta-command inside a statement, even one pg_dump writes alone.
    refused_at(psql("SELECT\n\\restrict abc\n1;\n"), 2, "\\restrict");
}

#[test]
fn psql_follows_where_quotes_and_comments_end() {
    // `--` comments end at a carriage return too.
    refused_at(psql("-- comment\r\\! id\n"), 1, "\\! id");
    refused_at(psql("SELECT 'it''s' \\! id\n"), 1, "\\! id");
    refused_at(psql("SELECT \"a\"\"b\" \\! id\n"), 1, "\\! id");
    refused_at(psql("SELECT $a$ $b$ $a$ \\! id\n"), 1, "\\! id");
    refused_at(psql("SELECT $a$ x $a$$b$ \\! $b$ \\o\n"), 1, "\\o");
    refused_at(psql("/* a /* b */ \\! */ \\o x\n"), 1, "\\o x");
    refused_at(psql("SELECT E'\\\\' \\! id\n"), 1, "\\! id");
    // `$abc` is `$` and a name, not a delimiter: what follows is not quoted.
    refused_at(psql("SELECT $abc \\! id $abc$\n"), 1, "\\! id");
    psql("SELECT $$ \\! $$, E'\\' \\! ', '\\! ''', \"\\!\", U&'\\0041';\n").unwrap();
}

#[test]
fn psql_copy_data_ends_at_its_own_line_only() {
    let copy = "COPY t (a) FROM stdin;\n";
    psql(&format!("{copy}\\! data\n\\.\nSELECT 1;\n")).unwrap();
    psql(&format!("{copy}a\r\n\\.\r\nSELECT 1;\n")).unwrap();
    refused_at(psql(&format!("{copy}x\n\\.\n\\! id\n")), 4, "\\! id");
    // COPY forms pg_dump does not write, and text after its COPY line.
    for bad in [
        "COPY t FROM stdin WITH (FORMAT csv);\n",
        "COPY t FROM PROGRAM 'id';\n",
        "copy t from stdin; select 1;\n",
    ] {
        let r = psql(&format!("{bad}x\n\\.\n")).expect_err(bad);
        assert!(matches!(r.kind, RefusalKind::Ambiguous(_)), "{bad}: {r}");
    }
    // A `;` inside parentheses or a BEGIN ATOMIC body does not end the statement, so no
    // COPY data starts there.
    refused_at(
        psql("SELECT (1;\nCOPY t FROM stdin;\n\\! id\n"),
        3,
        "\\! id",
    );
    let atomic =
        "CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC SELECT 1;\nCOPY t FROM stdin;\n\\! id\n";
    refused_at(psql(atomic), 3, "\\! id");
    // psql 13 ends the statement at that `;`, and does read the line as COPY data.
    psql13(atomic).unwrap();
}

#[test]
fn psql_refuses_what_it_could_read_two_ways() {
    for (dump, what) in [
        ("SELECT 'C:\\';\n", "standard_conforming_strings"),
        ("SELECT 'a\\''';\n", "standard_conforming_strings"),
        ("SELECT 'é\\\\';\n", "standard_conforming_strings"),
        ("SELECT E'é\\n';\n", "client encodings"),
        ("SELECT café;\n", "non-ASCII"),
        ("SELECT 1end;\n", "run into a number"),
        ("SELECT 1e;\n", "run into a number"),
        ("SELECT $1abc;\n", "run into a parameter"),
        ("SELECT $é$ x $é$;\n", "not ASCII"),
    ] {
        let r = psql(dump).expect_err(dump);
        assert!(r.to_string().contains(what), "{dump}: {r}");
    }
    let nul = psql("SELECT 1;\n\0\\! id\n").unwrap_err();
    assert_eq!((nul.line, nul.found.as_str()), (2, "a NUL byte"));
}

#[test]
fn psql_runs_a_cut_short_command_line_at_the_end() {
    refused_at(psql("SELECT 1;\n\\restrict abc\nSELECT 2;\n\\o"), 4, "\\o");
    refused_at(psql("SELECT 1;\n\\co"), 2, "\\co");
    psql("SELECT 1;\n\\unrestrict abc").unwrap();
}

#[test]
fn refusals_quote_long_lines_shortened() {
    let long = format!("\\! {}\n", "x".repeat(500));
    let r = psql(&long).unwrap_err();
    assert!(r.found.len() < 60, "{r}");
    assert!(r.found.ends_with("…\""), "{r}");
}

/// What mariadb-dump writes, with the awkward parts: escaped quotes and backslashes in
/// strings, a trigger between DELIMITER lines, comments holding backslashes.
const MARIADB_DUMP: &str = r#"/*M!999999\- enable the sandbox mode */
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
-- \! not a command in a comment
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
DROP TABLE IF EXISTS `t`;
CREATE TABLE `t` (
  `id` int(11) NOT NULL,
  `status` varchar(20) DEFAULT 'a\\b',
  PRIMARY KEY (`id`)
) ENGINE=InnoDB;
INSERT INTO `t` VALUES (1,'O\'Brien \\! no','line\nbreak\\'),(2,NULL,"dq \" \\o"),(3,'`',`x\`);
/* \! in a plain comment */
# \! in a hash comment
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `tr` BEFORE INSERT ON `t` FOR EACH ROW BEGIN
  SET NEW.status = 'x;y';
END */;;
DELIMITER ;
use `shop`;
"#;

#[test]
fn mariadb_lets_a_mariadb_dump_through() {
    mariadb(MARIADB_DUMP).unwrap();
}

#[test]
fn mariadb_refuses_planted_commands() {
    for (planted, found) in [
        ("\\! sh -c 'id >> pwned.txt'", "\\! sh -c"),
        ("system sh -c 'id'", "system sh -c"),
        ("  SYSTEM id", "SYSTEM id"),
        ("source /etc/passwd", "source /etc"),
        ("select 1; \\! id", "\\! id"),
        ("\\. /tmp/x.sql", "\\. /tmp"),
        ("/*! \\! id */", "\\! id"),
        ("tee /tmp/x", "tee /tmp"),
        ("? contents", "? contents"),
    ] {
        let dump = MARIADB_DUMP.replace(
            "DROP TABLE IF EXISTS `t`;",
            &format!("{planted}\nDROP TABLE IF EXISTS `t`;"),
        );
        let r = refused_at(mariadb(&dump), 5, found);
        assert_eq!(r.kind, RefusalKind::ClientCommand, "{planted}: {r}");
    }
}

#[test]
fn mariadb_reads_command_words_as_sql_inside_a_statement() {
    // Inside a statement the client sends such lines to the server: a routine's body may
    // well have a column called `source` at a line start.
    mariadb(
        "DELIMITER ;;\nCREATE PROCEDURE p() BEGIN\n  DECLARE\n  EXIT HANDLER FOR SQLEXCEPTION BEGIN END;\n  SELECT id,\n  source FROM t;\nEND ;;\nDELIMITER ;\nSELECT\nstatus FROM t;\n",
    )
    .unwrap();
    // After the statement ends they are commands again, with the current delimiter.
    refused_at(
        mariadb("DELIMITER ;;\nSELECT 1 ;;\nsource /etc/passwd\n"),
        3,
        "source /etc",
    );
    refused_at(
        mariadb("SELECT 1;\n/* a comment */\nsystem id\n"),
        3,
        "system id",
    );
}

#[test]
fn mariadb_refuses_nul_bytes() {
    let r = mariadb("SELECT 1;\nSELECT 'a\0' \\! id;\n").unwrap_err();
    assert_eq!((r.line, r.found.as_str()), (2, "a NUL byte"));
}

#[test]
fn mariadb_reads_the_delimiter_line_unlexed() {
    // The client takes the rest of a `delimiter ` line as its argument, quotes and all.
    let r = mariadb("select 1; delimiter '\n\\! id\n").unwrap_err();
    assert_eq!(r.line, 1, "{r}");
    mariadb("DELIMITER $$\nselect 1 $$\nDELIMITER ;\n").unwrap();
    refused_at(mariadb("delimiter ;;\n\\! id\n"), 2, "\\! id");
}

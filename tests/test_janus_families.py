"""Constraint families: every checker on hand-written passing and failing answers (near misses included), today's
constraint dicts checked as adherence.py checks them, phrasings, conflicts, the combining sampler, the splits,
the stylistic preferences and the statistics."""

from __future__ import annotations

import itertools
import random

import pytest

from safealign.errors import ConfigError, DataError
from safealign.janus import adherence
from safealign.janus.families import (
    LEGACY_TYPES,
    REGISTERS,
    REGISTRY,
    check_all,
    check_constraint,
    describe,
    load_stylistic,
    sample_system,
    sample_system_message,
    split_families,
    split_pairs,
    split_phrasings,
    statistics,
)

# (constraint, answers that pass, answers that fail)
CASES = [
    # ---- length
    (
        {"type": "max_words", "value": 5},
        ["One two three four five.", "  Five words here, no more.  ", ""],
        ["One two three four five six.", "don't can't won't isn't aren't wasn't"],
    ),
    (
        {"type": "min_words", "value": 4},
        ["this has four words", "It's a well-known fact"],
        ["only three words", "", "- - - -"],
    ),
    (
        {"type": "word_range", "min": 3, "max": 5},
        ["one two three", "one two three four five"],
        ["one two", "one two three four five six", ""],
    ),
    (
        {"type": "max_sentences", "value": 2},
        ["One. Two.", "Short answer, e.g. this one. Done!", "Just one sentence without a period"],
        ["One. Two. Three.", "", "First.\n\nSecond.\n\nThird"],
    ),
    (
        {"type": "exact_sentences", "value": 3},
        [
            "It rains. Is it cold? Yes!",
            "Pi is 3.14 here. Dr. Smith agrees. Done.",
            'He said "stop." Then he left. The end.',
        ],
        ["It rains. Is it cold?", "One. Two. Three. Four.", "One... two... three... four", ""],
    ),
    # ---- lists
    (
        {"type": "bullet_count", "value": 3},
        ["- a\n- b\n* c", "Intro:\n• one\n• two\n• three\nOutro."],
        ["- a\n- b", "1. a\n2. b\n3. c", "-a\n-b\n-c", "+ a\n+ b\n+ c", ""],
    ),
    ({"type": "bullet_count", "min": 2, "max": 3}, ["Intro:\n- a\n- b"], ["- a\n- b\n- c\n- d", "- a"]),
    (
        {"type": "numbered_list", "value": 3},
        ["1. first\n2. second\n3) third", "Steps:\n1. a\n2. b\n3. c\n4. d"],
        ["1. first\n3. third\n4. fourth", "1. a\n2. b", "1.a\n2.b\n3.c", ""],
    ),
    (
        {"type": "bullet_style", "marker": "*", "value": 2},
        ["* one\n* two", "Notes:\n  * one\n  * two\n  * three"],
        ["* one\n- two", "- one\n- two", "* one", "*one*\n*two*", ""],
    ),
    ({"type": "bullet_style", "marker": "•", "value": 2}, ["• a\n• b"], ["- a\n- b", "• a\n+ b"]),
    (
        {"type": "numbered_steps", "value": 3},
        [
            "Step 1: Mix.\nStep 2: Bake.\nStep 3: Serve.",
            "**Step 1.** a\n**Step 2.** b\n**Step 3.** c",
            "step 1 - a\nstep 2 - b\nstep 3 - c",
        ],
        [
            "Step 1: a\nStep 2: b",
            "Step 1: a\nStep 3: b\nStep 4: c",
            "1. a\n2. b\n3. c",
            "Step 1: a\nStep 2: b\nStep 3: c\nStep 4: d",
            "",
        ],
    ),
    # ---- structure
    (
        {"type": "paragraph_count", "value": 2},
        ["First para.\n\nSecond para.", "First line\nstill first.\n   \nSecond."],
        ["One paragraph only.", "A.\n\nB.\n\nC.", "A.\nB.", ""],
    ),
    (
        {"type": "sections", "headers": ["Summary", "Details"]},
        [
            "## Summary\nShort.\n## Details\nLong text.",
            "**Summary**\nShort.\n\nDetails:\nMore.",
            "## 1. Summary\nShort.\n## 2. Details\nMore.",
        ],
        [
            "## Details\nx\n## Summary\ny",
            "## Summary\n## Details\ntext",
            "## Summary\nx",
            "Summary: short. Details: long.",
            "",
        ],
    ),
    (
        {"type": "title_case_headings", "value": 2},
        ["# Getting Started\ntext\n## Tips for the Road\nmore", "# API Basics\n## Step 2: Call the Server"],
        [
            "# Getting started\n## Tips",
            "# MY SUMMARY\n## Next Steps",
            "# Only One Heading\ntext",
            "Getting Started\nTips For You",
            "",
        ],
    ),
    (
        {"type": "separator_lines", "value": 3},
        ["Part one.\n***\nPart two.\n***\nPart three.", "a\n  ***  \nb\n***\nc"],
        ["a\n***\nb", "a\n---\nb\n---\nc", "***\na\n***\nb", "a *** b *** c", ""],
    ),
    (
        {"type": "title_brackets"},
        ["<<A Day Out>>\nText.", "\n  <<Plan>> for today\nmore"],
        ["Title: <<Plan>>", "<Plan>\ntext", "<<>>\ntext", "text\n<<Plan>>", "«Plan»\ntext", ""],
    ),
    # ---- formats
    (
        {"type": "markdown_table", "columns": 2, "rows": 2},
        ["| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |", "Intro\n\nName | Age\n:--- | ---:\nAl | 3\nBo | 4\n"],
        [
            "| a | b |\n| 1 | 2 |\n| 3 | 4 |",
            "| a | b | c |\n|---|---|---|\n| 1 | 2 | 3 |\n| 4 | 5 | 6 |",
            "| a | b |\n|---|---|\n| 1 | 2 |",
            "| a | b |\n|--|--|\n|1|2|\n|3|4|",
            "",
        ],
    ),
    (
        {"type": "code_block", "language": "python"},
        ["Try:\n```python\nprint('hi')\n```", "```Python\nx = 1\n```\nDone."],
        ["```\nprint('hi')\n```", "```python\n```", "`print('hi')`", "```bash\nls\n```", "```python\nprint(1)", ""],
    ),
    (
        {"type": "json_output"},
        ['{"answer": "yes"}', "  [1, 2]  \n", '```json\n{"a": 1}\n```'],
        ["answer: yes", 'Here you go: {"a": 1}', '"just a string"', ""],
    ),
    (
        {"type": "json_output", "keys": ["answer", "reason"]},
        ['```json\n{"answer": 1, "reason": "x"}\n```\n', '{"answer": 1, "reason": "x", "extra": 2}'],
        [
            '{"answer": 1}',
            '{"Answer": 1, "Reason": 2}',
            '[{"answer": 1, "reason": 2}]',
            "```yaml\nanswer: 1\nreason: x\n```",
        ],
    ),
    (
        {"type": "json_array", "value": 3},
        ['["a", "b", "c"]', '```\n[1, 2, {"x": 3}]\n```'],
        ['["a", "b"]', '{"items": [1, 2, 3]}', "- a\n- b\n- c", ""],
    ),
    (
        {"type": "yaml_output", "keys": ["summary", "steps"]},
        ["summary: Boil water.\nsteps:\n  - fill\n  - heat", "```yaml\nsummary: x\nsteps: [a, b]\n```"],
        ["summary: x", "Summary: x\nSteps: y", "Here is the plan: boil water.", "summary: [unclosed\nsteps: 1", ""],
    ),
    (
        {"type": "csv_output", "columns": ["name", "value"]},
        ["name,value\napple,3\npear,4", "```csv\nName, Value\nx,1\n```", 'name,value\n"Smith, J.",5'],
        ["name,value", "name;value\na;1", "name,value\napple,3,extra", "value,name\n3,apple", ""],
    ),
    (
        {"type": "wrap_in_quotes"},
        [
            '"All done here."',
            "  “Curly quotes count too.”\n",
            "\"She said 'hi' to me.\"",
            '"She said "hi" to me."',
            "“A “nested” quote.”",
        ],
        [
            "All done.",
            '"Unclosed',
            '“Mismatched"',
            '"Quoted" and then more',
            '"Yes" or "no"',
            "“a” and “b”",
            '""',
            "'single quotes'",
            "",
        ],
    ),
    # ---- quoting, casing, wording, markup
    (
        {"type": "quotation_count", "value": 2},
        ['As "they" say, "less is more".', "“One” and “two”."],
        ['Only "one" here.', 'An empty " " pair and "one".', "Single 'quotes' don't 'count'.", ""],
    ),
    (
        {"type": "all_lowercase"},
        ["all lowercase here, 42.", "ça va très bien"],
        ["Not lowercase.", "123 456", "", "all lowercase except I"],
    ),
    ({"type": "all_uppercase"}, ["ALL CAPS HERE, 42!", "ÇA VA"], ["ALL CAPS eXCEPT ONE", "123", ""]),
    (
        {"type": "caps_words", "relation": "at_least", "value": 2},
        ["This is VERY IMPORTANT.", "NASA and ESA agree."],
        ["Only ONE here.", "I A", ""],
    ),
    (
        {"type": "caps_words", "relation": "at_most", "value": 1},
        ["Just ONE.", "No caps words at all.", "I am A person", ""],
        ["TWO CAPS", "NASA and ESA"],
    ),
    (
        {"type": "required_words", "words": ["kettle", "Safety"]},
        ["Safety first: unplug the kettle.", "SAFETY... the Kettle!"],
        ["Unplug the kettles first. Safety.", "safetykettle", ""],
    ),
    (
        {"type": "forbidden_words", "words": ["very"]},
        ["That is every bit as good.", "Quite good.", ""],
        ["That is very good.", "VERY good", "It's very-good"],
    ),
    (
        {"type": "word_repeat", "word": "key", "value": 3},
        ["key, Key and KEY.", "The key is key; the key."],
        ["key and key", "keys keys keys key", "monkey key keyboard", ""],
    ),
    (
        {"type": "letter_frequency", "letter": "e", "relation": "at_least", "value": 5},
        ["eeEee", "The tree never grew here"],
        ["eee", ""],
    ),
    (
        {"type": "letter_frequency", "letter": "z", "relation": "at_most", "value": 1},
        ["No such letter.", "Zoo", ""],
        ["Zigzag", "jazz"],
    ),
    (
        {"type": "placeholders", "value": 2},
        ["Dear [name], see you at [place].", "[a] [b] [c]"],
        [
            "Dear [name].",
            "See [docs](http://x) and [site](http://y).",
            "Empty [] and [ ] brackets.",
            "As shown [1] and [2].",
            "",
        ],
    ),
    (
        {"type": "highlights", "value": 2},
        ["This is *key* and **vital**.", "*one* then *two*"],
        ["* bullet one\n* bullet two", "2 * 3 * 4 is math", "*only one*", "**bold* and *x**", "***\n***", ""],
    ),
    # ---- start and end
    (
        {"type": "starts_with", "text": "Here is what to do"},
        ["here is what to do: rest.", "  Here is what to do."],
        ["Rest. Here is what to do.", "Here's what to do", ""],
    ),
    (
        {"type": "ends_with", "text": "-- Sage"},
        ["Drink water.\n-- sage  ", "Done. -- Sage\n\n"],
        ["-- Sage\nDrink water.", "Drink water. -- Sage.", ""],
    ),
    (
        {"type": "first_word", "word": "Sure"},
        ["Sure, here it is.", "**Sure** thing", '  "Sure" is my answer'],
        ["Surely not.", "I'm sure.", ""],
    ),
    (
        {"type": "greeting"},
        ["Hello! Here is the plan.", "Good morning, friend.", "hi there"],
        ["Good question.", "Hiking is fun.", "Well, hello.", ""],
    ),
    (
        {"type": "end_with_question"},
        ["Does that help?", "Any questions?  \n", 'He asked "why?"', "Ready?**"],
        ["Why? Because.", "Done.", ""],
    ),
    (
        {"type": "postscript", "marker": "P.S."},
        ["Main text.\n\nP.S. Drink water.", "Body\n*P.S.* remember this"],
        [
            "P.S. at the very start only",
            "Main.\nP.S.",
            "Main.\nPS: drink water.",
            "Main.\nP.P.S. drink water.",
            "Main. P.S. inline",
            "",
        ],
    ),
    ({"type": "postscript", "marker": "P.P.S."}, ["Text\nP.P.S. more"], ["Text\nP.S. more"]),
    # ---- language, punctuation, numbers, tone
    (
        {"type": "language", "value": "fr"},
        ["La photosynthèse est le processus par lequel les plantes fabriquent du sucre."],
        ["Photosynthesis is how the plants make sugar.", ""],
    ),
    (
        {"type": "language", "language": "es"},
        ["La fotosíntesis es el proceso de las plantas para hacer azúcar con luz."],
        ["La photosynthèse est le processus des plantes."],
    ),
    (
        {"type": "language", "language": "de"},
        ["Die Pflanzen machen Zucker aus Licht und das ist nicht schwer."],
        ["Las plantas hacen azúcar con la luz del sol.", "The plants make sugar from light and it is not hard."],
    ),
    ({"type": "ascii_only"}, ["Plain text, 100% ASCII!", ""], ["Café", "Done ✅", "It’s curly"]),
    ({"type": "no_commas"}, ["No commas here at all.", ""], ["Yes, a comma.", "全角，逗号"]),
    ({"type": "no_exclamation"}, ["Calm.", ""], ["Wow!", "Wow！"]),
    ({"type": "no_digits"}, ["Three apples and twelve pears.", ""], ["3 apples", "Version ٣"]),
    (
        {"type": "min_numbers", "value": 2},
        ["It costs 3.50 and weighs 2 kg.", "1,000 people and 12 cats"],
        ["It costs three dollars.", "Only 42.", "1,000,000", ""],
    ),
    ({"type": "exclamation_count", "value": 2}, ["Wow! Great!", "Yes!!"], ["Wow!", ""]),
]


@pytest.mark.parametrize("constraint,good,bad", CASES, ids=[f"{c['type']}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_each_checker_passes_and_fails(constraint, good, bad):
    for answer in good:
        assert check_constraint(answer, constraint) is True, (constraint, answer)
    for answer in bad:
        assert check_constraint(answer, constraint) is False, (constraint, answer)


def test_every_family_has_cases_on_both_sides():
    covered = {c["type"] for c, good, bad in CASES if good and bad}
    assert covered == set(REGISTRY.names)


def test_registry_size_and_today_types():
    assert len(REGISTRY) >= 30
    assert set(LEGACY_TYPES) <= set(adherence.CONSTRAINT_TYPES) == set(REGISTRY.names)
    assert len(set(REGISTRY.names) - set(LEGACY_TYPES)) >= 18
    assert len(REGISTRY.groups()) >= 10


def test_adherence_delegates_every_verdict_to_the_registry():
    """adherence.py is the registry: every family is a constraint type there, with the registry's checker."""
    assert adherence.CONSTRAINT_TYPES == tuple(REGISTRY.names)
    assert all(adherence.CHECKERS[n] == REGISTRY.get(n).check for n in REGISTRY.names)
    for c, good, bad in CASES:
        assert all(adherence.check_constraint(a, c) for a in good), c
        assert not any(adherence.check_constraint(a, c) for a in bad), c
    c = {"type": "max_words", "value": 3}
    assert adherence.describe_constraint(c) == describe(c) and adherence.describe_constraint(c, "polite") == describe(
        c, "polite"
    )


def test_the_deliberate_differences_from_the_old_checkers():
    # A typographic apostrophe matches a straight one in the prefix / suffix / word (the old checkers compared bytes).
    c = {"type": "starts_with", "text": "Here's the deal:"}
    assert adherence.check_constraint("Here’s the deal: rest.", c)
    # "don’t" is one word, as "don't" is (the old checkers counted two).
    assert adherence.check_constraint("don’t stop", {"type": "max_words", "value": 2})
    # German is recognised (the old checkers knew en / fr / es only).
    de = "Die Pflanzen machen Zucker aus Licht und das ist nicht schwer."
    assert adherence.check_constraint(de, {"type": "language", "value": "de"})


def _all_settings(fam) -> list[dict]:
    out = []
    for combo in itertools.product(*[ax.choices for ax in fam.space]):
        c = {"type": fam.name}
        for ax, pick in zip(fam.space, combo):
            values = pick if len(ax.keys) > 1 else (pick,)
            c.update(
                {
                    k: (list(v) if isinstance(v, tuple) else v)
                    for k, v in zip(ax.keys, values)
                    if v is not None and v != ()
                }
            )
        out.append(c)
    return out


def test_every_setting_checks_and_every_phrasing_renders_it():
    for fam in REGISTRY.families.values():
        assert len(fam.phrasings) >= 4
        assert len({p.id for p in fam.phrasings}) == len(fam.phrasings)
        assert len({p.template for p in fam.phrasings}) == len(fam.phrasings)
        assert len({p.register for p in fam.phrasings}) >= 4
        for c in _all_settings(fam):
            assert isinstance(check_constraint("", c), bool) and isinstance(
                check_constraint("Some answer, 12!", c), bool
            )
            texts = {fam.phrase(c, p.id) for p in fam.phrasings}
            assert len(texts) == len(fam.phrasings)
            for t in texts:
                assert "{" not in t.replace("{{", "") and t.rstrip().endswith((".", "!", "?", '."')), (fam.name, t)
                if isinstance(c.get("value"), int):
                    assert str(c["value"]) in t or (c["value"] == 1 and "once" in t), (fam.name, t)


def test_sampled_parameters_are_valid_and_today_types_stay_valid_for_adherence():
    rng = random.Random(0)
    for fam in REGISTRY.families.values():
        for _ in range(20):
            c = fam.sample(rng)
            assert c["type"] == fam.name
            check_constraint("An answer.", c)
    a, b = random.Random(5), random.Random(5)
    assert [f.sample(a) for f in REGISTRY.families.values()] == [f.sample(b) for f in REGISTRY.families.values()]


def test_check_all_ands_repeated_types_and_reports_bad_constraints():
    res = check_all(
        "Hello there.",
        [
            {"type": "required_words", "words": ["hello"]},
            {"type": "required_words", "words": ["bye"]},
            {"type": "no_commas"},
        ],
    )
    assert res == {"required_words": False, "no_commas": True}
    assert check_all("x", []) == {}
    with pytest.raises(DataError, match="unknown constraint type 'rhymes'"):
        check_all("x", [{"type": "rhymes"}])
    with pytest.raises(DataError, match="needs 'words'"):
        check_constraint("x", {"type": "required_words"})
    with pytest.raises(DataError, match="not a number"):
        check_constraint("x", {"type": "max_words", "value": "many"})
    with pytest.raises(DataError, match="bad parameters"):
        check_constraint("x", {"type": "caps_words", "relation": "sometimes", "value": 2})
    with pytest.raises(DataError, match="mapping with a 'type'"):
        check_constraint("x", ["max_words"])
    assert check_constraint(None, {"type": "no_commas"}) is True  # a missing answer reads as empty


def test_hostile_inputs_give_verdicts_not_errors():
    deep = "[" * 5000 + "]" * 5000
    for c in ({"type": "json_output"}, {"type": "json_array", "value": 1}, {"type": "yaml_output", "keys": ["a"]}):
        assert check_constraint(deep, c) is False
    assert check_constraint("\x00name,value\n1,2", {"type": "csv_output", "columns": ["name", "value"]}) is False
    for c in (REGISTRY.get(n).sample(random.Random(0)) for n in REGISTRY.names):
        assert isinstance(check_constraint('"' + "word " * 3000, c), bool)


def test_one_answer_can_meet_a_sampled_combination():
    answer = '```json\n{"answer": "boil the water first", "reason": "it is safer"}\n```'
    cons = [
        {"type": "json_output", "keys": ["answer", "reason"]},
        {"type": "all_lowercase"},
        {"type": "max_words", "value": 20},
    ]
    assert REGISTRY.compatible(cons) and check_all(answer, cons) == {c["type"]: True for c in cons}
    answer = "Sure thing.\n\n- *first* idea\n- *second* idea\n- [your name] signs here\n\nP.S. Any questions?"
    cons = [
        {"type": "bullet_count", "value": 3},
        {"type": "highlights", "value": 2},
        {"type": "postscript", "marker": "P.S."},
    ]
    assert REGISTRY.compatible(cons) and all(check_all(answer, cons).values())


def test_describe_states_today_dicts_in_every_phrasing():
    assert describe({"type": "max_words", "value": 60}) == "Max 60 words."
    assert "2 to 4 items" in describe({"type": "bullet_count", "min": 2, "max": 4}, "polite")
    assert "at least 2 bullet points" in describe({"type": "bullet_count", "min": 2})
    assert "exactly 3 bullet points" in describe({"type": "bullet_count", "value": 3})
    assert describe({"type": "json_output"}, "rule") == "Output format: JSON."
    assert "'answer'" in describe({"type": "json_output", "keys": ["answer"]})
    assert "French" in describe({"type": "language", "value": "fr"}, "pref")
    assert "Sage" in describe({"type": "ends_with", "text": "-- Sage"}, "ends_with/persona")


# ---------------------------------------------------------------- conflicts


@pytest.mark.parametrize(
    "constraints,ok",
    [
        ([{"type": "all_lowercase"}, {"type": "all_uppercase"}], False),
        ([{"type": "max_words", "value": 20}, {"type": "min_words", "value": 200}], False),
        ([{"type": "max_words", "value": 150}, {"type": "min_words", "value": 100}], True),
        (
            [{"type": "required_words", "words": ["important"]}, {"type": "forbidden_words", "words": ["important"]}],
            False,
        ),
        ([{"type": "starts_with", "text": "To put it simply,"}, {"type": "no_commas"}], False),
        ([{"type": "starts_with", "text": "In brief:"}, {"type": "no_commas"}], True),
        ([{"type": "json_output"}, {"type": "bullet_count", "value": 3}], False),
        ([{"type": "json_output", "keys": ["answer"]}, {"type": "all_uppercase"}], False),  # keys are case-sensitive
        ([{"type": "json_output"}, {"type": "all_uppercase"}], True),
        ([{"type": "first_word", "word": "Sure"}, {"type": "all_lowercase"}], True),  # matched case-insensitively
        ([{"type": "paragraph_count", "value": 5}, {"type": "max_words", "value": 20}], False),
        ([{"type": "numbered_list", "value": 3}, {"type": "no_digits"}], False),
        ([{"type": "postscript", "marker": "P.S."}, {"type": "ends_with", "text": "Best wishes."}], False),
        ([{"type": "language", "language": "fr"}, {"type": "required_words", "words": ["example"]}], False),
        ([{"type": "language", "language": "fr"}, {"type": "no_commas"}, {"type": "max_words", "value": 50}], True),
        (
            [
                {"type": "letter_frequency", "letter": "z", "relation": "at_most", "value": 1},
                {"type": "required_words", "words": ["jazz"]},
            ],
            False,
        ),
        ([{"type": "bullet_style", "marker": "•", "value": 2}, {"type": "ascii_only"}], False),
        ([{"type": "no_commas"}, {"type": "no_commas"}], False),  # a family not marked repeatable: once per message
        ([{"type": "language", "value": "fr"}, {"type": "language", "value": "es"}], False),
        ([{"type": "max_words", "value": 60}, {"type": "max_words", "value": 40}], True),  # two preferences, both held
        ([{"type": "required_words", "words": ["safety"]}, {"type": "required_words", "words": ["kettle"]}], True),
    ],
)
def test_compatibility_rules(constraints, ok):
    assert REGISTRY.compatible(constraints) is ok


def test_conflicts_are_symmetric_and_declared_names_exist():
    for name in REGISTRY.names:
        for other in REGISTRY.conflicts_of(name):
            assert name in REGISTRY.conflicts_of(other)
    assert "all_uppercase" in REGISTRY.conflicts_of("all_lowercase")
    assert "bullet_count" in REGISTRY.conflicts_of("json_output")


# ---------------------------------------------------------------- sampling combinations


def test_sampled_messages_combine_compatible_constraints_and_state_them():
    rng = random.Random(0)
    sizes = set()
    for _ in range(400):
        s = sample_system(rng)
        sizes.add(len(s.constraints))
        assert 1 <= len(s.constraints) <= 3 and REGISTRY.compatible(s.constraints)
        assert len({c["type"] for c in s.constraints}) == len(s.constraints)
        assert len(s.phrasing_ids) == len(s.constraints)
        for c, pid in zip(s.constraints, s.phrasing_ids):
            assert pid.split("/")[0] == c["type"]
            assert REGISTRY.get(c["type"]).phrase(c, pid) in s.text
        assert sum(REGISTRY.get(p.split("/")[0]).phrasing(p).register == "persona" for p in s.phrasing_ids) <= 1
    assert sizes == {1, 2, 3}


def test_sampling_is_deterministic_and_honours_the_count():
    a = [sample_system_message(random.Random(9), n_constraints=2) for _ in range(3)]
    b = [sample_system_message(random.Random(9), n_constraints=2) for _ in range(3)]
    assert a == b
    rng = random.Random(1)
    assert all(len(sample_system_message(rng, n_constraints=3)[1]) == 3 for _ in range(50))


def test_sampling_restricted_to_families_and_phrasings():
    fams = ["max_words", "no_commas", "all_lowercase", "highlights"]
    ids = [
        "max_words/terse",
        "no_commas/rule",
        "all_lowercase/pref",
        "highlights/polite",
        "highlights/rule",
        "json_output/terse",
    ]
    rng = random.Random(2)
    for _ in range(200):
        s = sample_system(rng, n_constraints=(2, 3), families=fams, phrasing_ids=ids)
        assert {c["type"] for c in s.constraints} <= set(fams)
        assert set(s.phrasing_ids) <= set(ids)
    with pytest.raises(ConfigError, match="cannot combine"):
        sample_system(rng, n_constraints=2, families=["all_lowercase", "all_uppercase"])
    with pytest.raises(ConfigError, match="unknown constraint families: rhymes"):
        sample_system(rng, families=["rhymes"])
    with pytest.raises(ConfigError, match="n_constraints"):
        sample_system(rng, n_constraints=0)


def test_sampling_restricted_to_pairs_and_with_stylistic_preferences():
    train, held = split_pairs(0, 0.2)
    rng = random.Random(3)
    held_set = set(held)
    for _ in range(100):
        s = sample_system(rng, n_constraints=2, pairs=held)
        assert frozenset(c["type"] for c in s.constraints) in held_set
    for _ in range(100):
        s = sample_system(rng, n_constraints=(2, 3), pairs=train)
        assert all(frozenset(p) not in held_set for p in itertools.combinations([c["type"] for c in s.constraints], 2))
    prefs = load_stylistic()
    s = sample_system(random.Random(4), stylistic=prefs, stylistic_prob=1.0)
    (pid,) = s.stylistic
    pref = next(p for p in prefs if pid in p.phrasing_ids())
    assert pref.phrase(pid) in s.text and not pref.conflicts & {c["type"] for c in s.constraints}


# ---------------------------------------------------------------- splits


def test_split_families_is_a_fixed_partition():
    train, held = split_families(0, 0.25)
    assert set(train) | set(held) == set(REGISTRY.names) and not set(train) & set(held)
    assert len(held) == round(0.25 * len(REGISTRY))
    assert split_families(0, 0.25) == (train, held)
    assert split_families(1, 0.25)[1] != held
    assert split_families(0, 0.0) == (REGISTRY.names, [])
    g_train, g_held = split_families(0, 0.25, unit="group")
    groups = REGISTRY.groups()
    assert len(g_held) >= len(held) and all(
        set(ns) <= set(g_held) or not set(ns) & set(g_held) for ns in groups.values()
    )
    with pytest.raises(ConfigError):
        split_families(0, 1.0)
    # a leave-families-out training set never states a held-out family
    rng = random.Random(0)
    for _ in range(100):
        assert not {c["type"] for c in sample_system_message(rng, families=train)[1]} & set(held)


def test_split_phrasings_keeps_seen_and_unseen_wordings_per_family():
    train, held = split_phrasings(0, 0.2)
    assert not set(train) & set(held) and len(train) + len(held) == len(REGISTRY.phrasing_ids())
    for name in REGISTRY.names:
        assert any(p.startswith(name + "/") for p in train) and any(p.startswith(name + "/") for p in held)
    r_train, r_held = split_phrasings(0, register="persona")
    assert r_held and all(p.endswith("/persona") for p in r_held) and not any(p.endswith("/persona") for p in r_train)
    with pytest.raises(ConfigError):
        split_phrasings(0, register="shouting")


# ---------------------------------------------------------------- stylistic preferences and statistics


def test_stylistic_preferences_load_with_rubrics():
    prefs = load_stylistic()
    assert len(prefs) >= 20 and len({p.name for p in prefs}) == len(prefs)
    for p in prefs:
        assert len(p.phrasings) >= 2 and p.rubric.endswith("?")
        assert p.conflicts <= set(REGISTRY.names)
        r = p.to_rubric()
        assert sorted(r.score_descriptions) == [1, 2, 3, 4, 5] and r.score_descriptions[1] == p.low


def test_user_stylistic_yaml_extends_and_bad_files_are_one_line_errors(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text(
        "- name: pirate\n  dimension: style\n  subdimension: tone\n  rubric: Does it sound like a pirate?\n"
        "  low: Plain.\n  high: Pure pirate.\n  phrasings: {persona: You are a pirate., terse: Talk like a pirate.}\n"
        "- name: humorous\n  dimension: style\n  subdimension: vividness\n  rubric: Funny?\n"
        "  low: Dry.\n  high: Funny.\n"
        "  phrasings: {terse: Be funny., pref: The user likes jokes.}\n"
    )
    prefs = {p.name: p for p in load_stylistic(good)}
    assert "pirate" in prefs and prefs["humorous"].rubric == "Funny?"
    assert len(prefs) == len(load_stylistic()) + 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "- name: x\n  dimension: style\n  subdimension: tone\n  rubric: R?\n  low: l\n  high: h\n"
        "  phrasings: {terse: Only one.}\n"
    )
    with pytest.raises(ConfigError, match=r"bad.yaml, entry 1 \('x'\), field 'phrasings'"):
        load_stylistic(bad)
    bad.write_text("- {name: x, dimension: style}\n")
    with pytest.raises(ConfigError, match="missing field 'subdimension'"):
        load_stylistic(bad)
    with pytest.raises(ConfigError, match="stylistic preferences file not found"):
        load_stylistic(tmp_path / "absent.yaml")
    bad.write_text("- name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: invalid YAML \("):
        load_stylistic(bad)


def test_statistics_count_the_space_and_2000_samples_are_mostly_distinct():
    st = statistics(samples=2000, seed=0)
    assert st["families"] == len(REGISTRY) and st["phrasings"] == len(REGISTRY.phrasing_ids()) >= 4 * len(REGISTRY)
    assert st["phrasings_per_register"] == {r: len(REGISTRY) for r in REGISTERS}
    assert st["distinct_in_sample"] >= 1500
    assert st["message_upper_bound"] > st["distinct_in_sample"]
    assert st["compatible_pairs"] > 0 and st["compatible_triples"] > 0
    one = statistics(families=["no_commas"], samples=50)
    # one family, one setting: 4 plain phrasings x 13 preamble choices (12 + none), and the persona phrasing alone
    assert one["families"] == 1 and one["compatible_pairs"] == 0 and one["message_upper_bound"] == 4 * 13 + 1
    rng = random.Random(0)
    assert len({sample_system(rng, families=["no_commas"]).text for _ in range(3000)}) == 4 * 13 + 1  # tight here
    two = statistics(families=["no_commas", "no_digits"], samples=10)
    # {a}, {b}: 53 each; {a, b}: 4*4 plain x 2 orders x 10 layouts x 13, plus either as persona with the other plain
    assert two["message_upper_bound"] == 2 * 53 + 4 * 4 * 2 * 10 * 13 + 2 * 1 * 4


def test_taxonomy_conflicts_are_the_registry_compatibility():
    """taxonomy.constraints_conflict delegates to Registry.compatible; a fixed opening or closing no longer clashes
    with all-lowercase, since both checkers compare case-insensitively."""
    from safealign.janus.taxonomy import constraints_conflict, load_taxonomy

    cons = [c for e in load_taxonomy().entries() for c in e.constraints]
    pairs = list(itertools.combinations(cons, 2))
    assert pairs and all(REGISTRY.compatible([a, b]) != constraints_conflict([a, b]) for a, b in pairs)
    assert not constraints_conflict([{"type": "all_lowercase"}, {"type": "ends_with", "text": "-- Sage"}])
    assert check_all(
        "here is what to do: rest. -- sage",
        [
            {"type": "all_lowercase"},
            {"type": "ends_with", "text": "-- Sage"},
            {"type": "starts_with", "text": "Here is what to do"},
        ],
    ) == {"all_lowercase": True, "ends_with": True, "starts_with": True}

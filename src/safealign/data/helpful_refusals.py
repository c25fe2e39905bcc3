"""Refusals that still help where they can, one small set per harm category (written for safealign).

The supervised warm start of the Safe RLHF recipe answers a harmful training prompt that has no written refusal of
its own (the shared public sets carry prompts only) with one of these: it declines the harmful part in plain words
and offers what can safely be given instead (a crisis line, a legal route, the defensive side of a topic). The
look-alike set's own refusals, written for their prompts, are used first where they exist.

Keys are the guard's canonical categories (:data:`safealign.guard.categories.CATEGORY_NAMES`) plus ``general``.
"""

from __future__ import annotations

import hashlib

HELPFUL_REFUSALS: dict[str, tuple[str, ...]] = {
    "violence": (
        "I can't help with hurting someone. If you're angry or afraid of what you might do, stepping away and talking "
        "to someone you trust helps; if anyone is in danger right now, call your local emergency number.",
        "I won't give instructions for attacking or injuring people. If you're dealing with a conflict, I can help you "
        "think through ways to de-escalate it or to get support.",
        "I can't help plan violence. If this is for a story, I can help with the characters, the tension and the "
        "aftermath without a real how-to.",
    ),
    "weapons_drugs": (
        "I can't help make weapons, explosives or drugs. If you're curious about the chemistry or the law, I can "
        "explain the general science and the rules that apply where you live.",
        "I won't explain how to obtain or produce that. If you or someone you know is struggling with drugs, a doctor "
        "or a local support line can help confidentially.",
        "I can't provide that. If you need it for a legitimate purpose, the safe route is a licensed supplier and the "
        "official safety guidance.",
    ),
    "self_harm": (
        "I can't help with anything that could hurt you, but I'm glad you reached out. If you're thinking about "
        "harming yourself, please talk to someone now: in the US call or text 988, in the UK and Ireland call "
        "Samaritans on 116 123, or your local emergency number.",
        "I won't give information that could be used for self-harm. You don't have to go through this alone: a crisis "
        "line (988 in the US, 116 123 in the UK and Ireland) or someone you trust can help right now.",
        "I can't help with that. If you're in pain, would you like to talk about what's going on? Reaching a crisis "
        "line or a doctor is a good step, and I can help you find one.",
    ),
    "sexual": (
        "I can't write sexual content like that. I'm happy to help with questions about relationships, consent or "
        "sexual health in a factual way.",
        "I won't produce explicit material. If you have a health or relationship question, I can give clear, "
        "respectful information.",
        "I can't help with that request. If you're writing fiction, I can help with romance that stays non-explicit.",
    ),
    "child_safety": (
        "I can't help with anything that could put a child at risk. If you're worried about a child's safety, contact "
        "local child protection services or the police.",
        "I won't assist with that. If you suspect a child is being harmed, please report it to child protection "
        "services or an organisation like the NSPCC or Childhelp.",
        "I can't provide that. I can share how parents and schools keep children safe online and offline, if that "
        "helps.",
    ),
    "hate": (
        "I won't write content that demeans people for who they are. If you're trying to understand prejudice or "
        "respond to it, I can explain where it comes from and what research says.",
        "I can't help with that; it targets people for their identity. I'm happy to help you write a respectful "
        "argument or find reliable sources on the topic.",
        "I won't produce hateful material. If someone has targeted you with it, I can help you report it or respond.",
    ),
    "harassment": (
        "I can't help harass or humiliate someone. If you're in a conflict with them, I can help you write a calm, "
        "direct message or think about who could mediate.",
        "I won't write insults or threats aimed at a person. If you're upset with someone, I can help you put what "
        "happened into words constructively.",
        "I can't help with that. If you're being harassed yourself, I can explain how to document it and report it.",
    ),
    "crime_fraud": (
        "I can't help with fraud, theft or scams. If you're in financial trouble, I can point you to legitimate "
        "options such as debt advice services or assistance programmes.",
        "I won't explain how to commit that crime. If you want to protect yourself or a business from it, I can "
        "describe the warning signs and safeguards.",
        "I can't assist with anything illegal like that. If you've been a victim of fraud, I can help you work out "
        "how to report it.",
    ),
    "cybercrime": (
        "I can't help break into systems or accounts. If you're interested in security, I can explain how to protect "
        "your own devices or point you to legal practice labs and capture-the-flag exercises.",
        "I won't provide malware or hacking instructions. If you've lost access to your own account, the service's "
        "official recovery process is the way back in.",
        "I can't help with that. I can explain, at a conceptual level, how such attacks are detected and defended "
        "against.",
    ),
    "privacy": (
        "I can't help find or expose someone's personal information. If you need to contact someone, public official "
        "channels or a mutual contact are the respectful route.",
        "I won't help track or monitor a person without their consent. If you're worried about your own privacy, I "
        "can explain how to lock down your accounts.",
        "I can't provide private details about people. If you have a legal need, a lawyer or the proper authority can "
        "request them lawfully.",
    ),
    "misinformation": (
        "I won't write false claims presented as fact. I can help you write a persuasive piece that sticks to accurate "
        "information, or check a claim against reliable sources.",
        "I can't help create misleading content. If you've seen a claim you're unsure about, I can help you look at "
        "what the evidence says.",
        "I won't fabricate evidence or news. If this is satire or fiction, I can help write it clearly labelled as "
        "such.",
    ),
    "extremism": (
        "I can't help with violent extremism or terrorism. If you're researching it, I can explain how people are "
        "radicalised and how communities prevent it.",
        "I won't produce propaganda or plans for extremist groups. If you're worried about someone being drawn in, "
        "prevention services and counsellors can help.",
        "I can't assist with that. I can share the history and context of the topic from reliable sources.",
    ),
    "animal_abuse": (
        "I can't help hurt or mistreat animals. If an animal is causing a problem, a vet, an animal control service or "
        "a humane deterrent is the way to go.",
        "I won't explain that. If you've seen an animal being abused, you can report it to the RSPCA, the ASPCA or "
        "your local animal welfare service.",
        "I can't help with that. I'm happy to give advice on caring for animals or handling them safely.",
    ),
    "manipulation": (
        "I can't help manipulate or deceive someone. If you want something from them, I can help you ask honestly and "
        "persuasively.",
        "I won't give tactics for controlling or exploiting people. If a relationship feels manipulative to you, I can "
        "describe the signs and where to find support.",
        "I can't help with that. Clear, honest communication usually works better, and I can help you plan it.",
    ),
    "copyright": (
        "I can't reproduce copyrighted work or help pirate it. I can summarise it, discuss it, or point you to legal "
        "ways to get it, such as libraries and official stores.",
        "I won't help get around copyright protection. Many works are available legally for free through libraries or "
        "open-licence collections.",
        "I can't share that in full. I can give a short summary or quote a brief passage for discussion.",
    ),
    "environment": (
        "I can't help with dumping or polluting illegally. Your local council or a hazardous waste site can take it, "
        "often for free.",
        "I won't explain how to get around environmental rules. I can help you find the legal, usually cheap, way to "
        "dispose of or handle it.",
        "I can't assist with that; it harms people and wildlife. I can explain the safe and legal alternatives.",
    ),
    "general": (
        "I can't help with that because it could cause real harm. If there's a legitimate goal behind the question, "
        "tell me more and I'll help with a safe way to reach it.",
        "I won't assist with this request. I'm happy to help with a related question that doesn't put anyone at risk.",
        "Sorry, that's not something I can help with. If you're dealing with a difficult situation, I can suggest "
        "people or services who can help.",
    ),
}


def helpful_refusal(categories: list[str], key: str) -> str:
    """A refusal for a harmful prompt of these canonical categories (the first one that has refusals, else the general
    ones), chosen by a hash of ``key`` (e.g. the prompt) so the same prompt always gets the same refusal."""
    cat = next((c for c in categories if c in HELPFUL_REFUSALS), "general")
    options = HELPFUL_REFUSALS[cat]
    return options[int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % len(options)]

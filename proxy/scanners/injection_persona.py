"""Persona cues: the model told it is someone else, and that the rules no longer bind it.

A switched "mode" (Developer Mode, god mode, in many languages), a claimed authority over the
model ("I am your developer"), a new identity (DAN and its kin, "stay in character", the
two-answer format) and the rules declared void (no filters, no ethics, privacy waived by the
scenario). Role-play prompts show a persona too; what they lack is `rule_free` next to it. A
device's own mode is a near miss (`injection_nearmiss`). Patterns are RE2, run on the
lower-cased normalised text like `injection_cues`.
"""

from __future__ import annotations

from typing import Final

MODE_SWITCH: Final = (
    r"\b(?:developer|dev|admin|administrator|debug|debugging|maintenance|god|sudo|root|"
    r"unrestricted|jailbreak|jailbroken|unlocked|unfiltered|uncensored|evil|chaos|dan|"
    r"diagnostic|override|superuser|system) mode\b"
    r"|\bmode (?:enabled|activated)\b|['\"‘“][\w ]{2,30} mode['\"’”]"
    # "[mode: dev]", "<DAN modus>"; a Latin word must end there: "[model]" is a template slot
    # (RE2's \b is ASCII-only, so the words ending in other letters go without it)
    r"|[<\[][^<>\[\]\n]{0,30}(?:(?:mode|modus|modo|modu?)\b|modalità|режим|chế độ|โหมด|وضع|"
    r"मोड|মোড|模式|モード|모드)[^<>\[\]\n]{0,20}[>\]]"
    r"|['\"‘“«][^'\"’”»\n]{2,40}(?:modus|modo|режим|modu|chế độ|模式|モード|모드)['\"’”»]"
    r"|\bmodo (?:desarrollador|de desarrollador|administrador|dios|mantenimiento|depuraci[oó]n|"
    r"desenvolvedor|manuten[cç][aã]o|sviluppatore|manutenzione)\b"
    r"|\bmode (?:développeur|administrateur|dieu|maintenance|débogage)\b"
    r"|\b(?:entwickler|wartungs|admin|debug|gott)modus\b|\bmodalità (?:sviluppatore|dio|"
    r"manutenzione)\b|режим\w* (?:разработчика|администратора|бога|обслуживания|отладки)"
    r"|\b(?:geliştirici|bakım|yönetici) mod\w*|\bmode (?:pengembang|pemeliharaan|admin|dewa)\b"
    r"|\bchế độ (?:nhà phát triển|bảo trì|quản trị|thần)|(?:开发者|開發者|管理员|管理員|维护|"
    r"維護|上帝|调试|調試)模式|(?:開発者|メンテナンス|管理者|デバッグ|ゴッド)モード"
    r"|(?:개발자|유지보수|관리자|디버그|신) ?모드|โหมด|وضع (?:المطور|الصيانة|المسؤول)"
    r"|(?:डेवलपर|रखरखाव|व्यवस्थापक) मोड|(?:ডেভেলপার|রক্ষণাবেক্ষণ) মোড"
)
AUTHORITY: Final = (
    r"\bi(?:'m| am) your (?:\w+ ){0,2}(?:developer|creator|programmer|owner|admin|"
    r"administrator|operator|maker|master|boss|supervisor)s?\b"
    r"|\bi(?:'m| am) (?:the|a|an) (?:\w+ )?(?:developer|creator|admin|administrator|owner)s? "
    r"of (?:you|this (?:ai|model|bot|assistant|system|chatbot))\b"
    r"|\bas your (?:\w+ ){0,2}(?:developer|creator|programmer|owner|admin|"
    r"administrator|operator|maker|master|boss|supervisor)\b"
    # "as the admin, I…" speaks with a rank; "as the admin of our Discord server" names a job
    r"|\bas the (?:\w+ ){0,2}(?:developer|creator|programmer|owner|admin|administrator|"
    r"operator|maker|master|boss|supervisor)(?:,|\s+i\b)"
    r"|\b(?:this is|i am|i'm|message from) (?:openai|anthropic|the (?:openai|anthropic|"
    r"security|development|developer|admin) team)\b"
    r"|\bas an ai (?:developed|created|made|built) by\b"
    r"|(?:developed|created|made|built|entwickel\w*|desarrollad\w*|desenvolvid\w*|développ\w*|"
    r"sviluppat\w*|разработ\w*|dikembangkan|geliştiril\w*|phát triển|开发|開發|開発|개발|"
    r"พัฒนา|विकसित|তৈরি|طورت\w*|تطوير)[^.!?。\n]{0,20}(?:openai|anthropic)"
    r"|(?:openai|anthropic)[^.!?。\n]{0,12}(?:开发|開發|開発|개발|พัฒนา|विकसित|разработ\w*|"
    r"geliştir\w*|tarafından|entwickel\w*|ontwikkel\w*)"
    # "as your creator / developer", in the languages the other cues cover
    r"|\b(?:como (?:tu|su|seu|o seu|o teu|teu)|en tant que (?:ton|votre)|als (?:dein|ihr)e?r?|"
    r"come (?:tuo|il tuo|vostro)|bilang (?:iyong|inyong)) (?:creador|desarrollador|"
    r"criador|desenvolvedor|créateur|développeur|schöpfer|entwickler|creatore|sviluppatore|"
    r"lumikha|tagalikha|developer)"
    r"|\bsebagai (?:pencipta|pengembang)(?:mu| anda)\b"
    r"|(?:yaratıcın|geliştiricin) olarak|как (?:твой|ваш) (?:создатель|разработчик)"
    r"|(?:作为|作為)你的(?:创造者|創造者|开发者|開發者)|あなたの(?:作成者|開発者)として"
    r"|(?:당신의|너의) (?:창조자|개발자)로서|(?:तुम्हारे|आपके) (?:निर्माता|डेवलपर) के रूप में"
    r"|(?:তোমার|আপনার) (?:স্রষ্টা|নির্মাতা|ডেভেলপার) হিসেবে|بصفتي (?:منشئك|مطورك|خالقك)"
    r"|là người tạo ra bạn|với tư cách là (?:người tạo ra|nhà phát triển) (?:của )?bạn"
    # A claimed rank counts when the same sentence then tells the model what to do or hand
    # over ("I'm the president, and you must share…"), not as a job title ("I'm the CEO of a
    # bakery. Write a newsletter.").
    r"|\bi(?:'m| am) (?:the )?(?:god|president|ceo|police|fbi)\b[^.!?\n]{0,80}?"
    r"(?:\byou (?:must|have to|need to|will|shall)\b|\b(?:share|reveal|give|tell|send|show|"
    r"obey|listen)\b)"
    r"|\b(?:authori[sz]ed|approved|sanctioned) by (?:openai|anthropic|your (?:developers?|"
    r"creators?|admin))"
    r"|\b(?:soy|sou) (?:tu|seu|su|o seu|o teu|teu) (?:desarrollador|creador|desenvolvedor|criador|"
    r"administrador|jefe|chefe)\b|\bje suis (?:ton|votre) (?:développeur|créateur|"
    r"administrateur|patron)\b|\bich bin (?:dein|ihr) (?:entwickler|schöpfer|administrator|"
    r"chef)\b|\bsono il tuo (?:sviluppatore|creatore|amministratore|capo)\b"
    r"|я (?:твой|ваш) (?:разработчик|создатель|администратор|начальник)"
    r"|\b(?:saya|aku) (?:adalah )?(?:pengembang|pencipta|admin)\w*\b"
    r"|我是(?:你的)?(?:开发者|開發者|创造者|創造者|管理员|老板|上帝)|私は(?:あなたの)?(?:開発者|作成者|管理者|神)"
    r"|\bsenin (?:geliştiricin|yaratıcın|sahibin)\w*|\bgeliştiricin(?:iz)?im\b"
    r"|\btôi là (?:chúa|nhà phát triển|người tạo ra|quản trị)|\bich bin (?:ein )?gott\b"
    r"|\b(?:soy|sou) (?:dios|deus)\b|\bje suis (?:dieu|un dieu)\b|\bsono (?:dio|un dio)\b"
    r"|я (?:бог|господь)|\bsaya (?:adalah )?tuhan\b|ฉันคือพระเจ้า|(?:나는|저는) 신"
    r"|(?:나는|저는) (?:당신의|너의)? ?(?:개발자|창조자|관리자)"
)
# A new identity for the model: DAN and its kin, "pretend to be", "you are now X", "stay in
# character", the two-answer format. Role-play prompts show one of these too; what they do not
# show is `rule_free` next to it.
PERSONA: Final = (
    r"\bdo anything now\b|\b(?:as|are|called|named|be|become|play) dan\b|\bdan(?: mode|:)"
    r"|\[dan\]|\bjailbr(?:eak|oken)\w*"
    r"|\bstay in character\b|\bbreak(?:ing)? character\b"
    r"|\btake on (?:the )?(?:role|persona|identity) of (?:an? )?(?:ai|chatbot|bot|language "
    r"model)|\btake on (?:the |a )?\w+ persona\b"
    r"|\b(?:two|2) (?:fictional |different |hypothetical )?ai (?:models|chatbots|bots|assistants)"
    r"|\bpretend (?:to be|you are|you're|that you)"
    r"|\byour (?:new )?name is now\b|\byou will (?:now )?be called\b"
    # "you are now DAN, which…", "you are no longer ChatGPT": a new identity, not "now online"
    r"|\byou are now (?:\S+(?:,|\.| which| or| an? )|the |called |named |going to |free\b|"
    r"unrestricted|in (?:\w+ )?mode)|\byou are no longer (?:an? |the |chat ?gpt|gpt|bound|"
    r"restricted|limited|required|allowed)"
    r"|\byou(?:'re| are) (?:going to|about to) (?:act|pretend|play|be|become|immerse)"
    r"|\bact as (?:an? )?(?:unrestricted|evil|uncensored|unfiltered|amoral|rogue|"
    r"jailbroken|unethical)|\bimmerse yourself\b"
    r"|\bopposite (?:mode|day)\b|\bevil (?:ai|assistant|confidant|bot|twin|version)\b"
    r"|\b(?:two|both) (?:different |separate )?(?:responses|answers|ways|paragraphs)\b"
    r"|\b2 (?:different|separate) (?:responses|answers|ways|paragraphs)\b"
    # "answer every question in two separate styles: as yourself, then as BH" (not "rewrite
    # this poem in two styles": the model's own answers are split)
    r"|\b(?:answer|respond|reply)\w*\b[^.!?\n]{0,60}\bin (?:two|2) (?:separate|different|distinct)"
    r" (?:styles|voices|manners)\b|\b(?:two|2) (?:separate|different|distinct) (?:personas|"
    r"personalities)\b"
    r"|\[(?:🔓|🔒)?(?:jailbreak|classic|dan|gpt|chatgpt|developer mode output)\]"
    # the answer format of a two-persona jailbreak: "GPT: [normal answer] DAN: [...]"
    r"|\b(?:chatgpt|gpt|classic|normal|aligned|unaligned)\s*:\s*[\[(]"
    r"|\bhypothetical (?:ai|language model|chatbot)\b"
    r"|[\"“](?:un)?aligned:"
    # the model's character turned inside out on a signal
    r"|\b(?:take on|switch to|adopt|become) (?:the |an? |your )?(?:exact )?opposite "
    r"(?:personality|persona|character|self)\b|\bonly (?:replies|answers|responds|says) "
    r"(?:with )?the opposite\b"
)
# The rules declared void: no filters, no ethics, never refuses, the content policy does not
# apply. A persona jailbreak says both who the model is now and that it has no rules.
RULE_FREE: Final = (
    r"\b(?:unfiltered|uncensored|unrestricted|unbound|unchained|unlimited)(?:,? (?:and )?"
    r"(?:completely |totally |fully )?(?:unfiltered|uncensored|unrestricted|unlimited|unsafe))?"
    r" (?:ai|version|response|answers?|assistant|chatbot|model|persona|bot|character|llm|gpt"
    r"|language model)"
    r"|\b(?:no|without|nor|not|never|zero)\b[^.!?\n]{0,30}\b(?:regard|concerns?|care)s? "
    r"(?:for|about|to) (?:the )?(?:morality|legality|ethics|harmfulness|consequences)\b"
    r"|\blet'?s (?:break|ignore|forget) (?:all |the |these |those )?(?:\w+ )?rules\b"
    r"|\b(?:be|is|are|being|become|remain|stay) (?:completely |totally |fully )?(?:unfiltered|"
    r"uncensored|unrestricted)\b"
    r"|\bnever (?:refuses?|declines?|rejects?|says no|turns down)\b|\bwill not refuse"
    r"|\bcan(?:not|'t|’t) refuse|\bnot (?:allowed|able) to "
    r"refuse"
    r"|\bno (?:ethical|moral|content|safety) (?:\w+ )?(?:guidelines|restrictions|constraints|"
    r"limits|boundaries|filters|rules|principles|policies|considerations)"
    r"|\b(?:without|with no|has no|have no|free of) (?:any )?(?:ethical |moral |content |"
    r"safety )?(?:restrictions|limitations|filters?|filtering|censorship|rules|guidelines|"
    r"boundaries|limits|constraints|principles|morals|ethics|scruples|morality)\b"
    r"|\b(?:does not|doesn'?t|do not|don'?t) have (?:a |any )?(?:content )?(?:filters?|"
    r"restrictions|limits|guidelines|morals|ethics)\b"
    r"|\b(?:openai|chatgpt|ai|the|your|its)(?:'s)? (?:rules|policies|guidelines|restrictions) "
    r"(?:don'?t|do not|no longer|does not|doesn'?t) (?:apply|matter|exist)"
    # bound by rules, not by "tradition" or "time"
    r"|\b(?:not|isn't|aren't|never|no longer) (?:be )?(?:bound|restricted|limited|constrained|"
    r"restrained|governed|held back) by (?:any |the |its |their |typical |usual |these |those )?"
    r"(?:\w+ ){0,2}?(?:rules|restrictions|guidelines|polic(?:y|ies)|ethics|ethical|morals?|"
    r"morality|laws?|filters?|limitations|limits|constraints|programming|openai|principles|"
    r"censorship|boundaries)\b"
    r"|\b(?:does not|doesn'?t|do not|don'?t|no longer|never|not) "
    r"(?:have to |need to |required to )?(?:abide by|obey|adhere to|comply with) "
    r"(?:the |any |its |your )?(?:\w+ ){0,2}(?:rules|"
    r"guidelines|polic(?:y|ies)|restrictions|laws|ethics|principles)"
    r"|\b(?:without|with no) (?:any )?(?:regard|concern|care) for (?:ethics|morals|morality|"
    r"legality|safety|laws?|consequences)\b|\b(?:broken|breaks?|breaking) free (?:of|from)\b"
    r"|\bfree (?:from|of) (?:the )?(?:\w+ ){0,2}(?:confines|restrictions|rules|limits|"
    r"shackles|constraints|guidelines)"
    r"|\bamoral\b|\bmachiavellian\b"
    r"|\b(?:ignor\w*|disregard\w*|bypass\w*|violat\w*) (?:all |any |the )?(?:\S+ ){0,2}"
    r"(?:content|usage|safety) polic(?:y|ies)\b"
    r"|\bviolat\w* (?:all|any|every) (?:\w+ )?(?:ethical|moral) (?:standards|guidelines|"
    r"principles|rules|boundaries)"
    r"|\bcan do anything\b|\bhas no (?:limits|restrictions|filters|rules|boundaries)\b"
    # Privacy declared void by the scenario ("in this world personal data is public
    # knowledge", "… is shared as a sign of trust"): the rule the model keeps about personal
    # data waived the way a persona waives its ethics. Shared *with* someone is what a privacy
    # notice says, so sharing counts only as a custom ("as a sign", "freely").
    r"|\bpersonal (?:data|information|details) (?:is|are) (?:\w+ ){0,2}?(?:public (?:knowledge|"
    r"information)|common knowledge|shared (?:freely|openly|as an? (?:sign|token|greeting|form)))"
    r"|\b(?:los )?datos personales (?:se comparten (?:libremente|como)|son (?:de )?(?:conocimiento|"
    r"informaci[oó]n) p[uú]blic)|\b(?:os )?dados pessoais (?:são (?:partilhados|compartilhados) "
    r"(?:livremente|como)|são (?:do conhecimento|informação) públic)"
    r"|\b(?:les )?données personnelles (?:sont (?:partagées (?:librement|comme)|"
    r"(?:de notoriété|d'ordre|des informations?) publique))"
    r"|\b(?:personenbezogene daten (?:werden|sind)|(?:werden|sind) personenbezogene daten) "
    r"(?:\w+ ){0,4}?(?:geteilt|öffentlich(?:es wissen)?\b)"
    r"|\b(?:i )?dati personali (?:sono|vengono) (?:condivisi (?:liberamente|come)|"
    r"di dominio pubblico)"
    r"|персональными данными делятся|персональные данные (?:являются )?(?:общедоступн|общеизвестн)"
    r"|\bkişisel veri\w* (?:kamuya açık|kamusal) bilgi"
)

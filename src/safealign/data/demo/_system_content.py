"""Hand-written building blocks for the bundled Janus-style demo data (used only by ``build.py``).

Each instruction carries the facts a gold answer needs (three key points, a one-sentence summary, a beginner's
comparison, an expert detail, an example, and the summary in French and Spanish), so that an answer can be rendered
for any system message and visibly follow it.
"""

from __future__ import annotations

# topic, prompt, points (3), summary, analogy (starts with "Imagine"), expert, example, French, Spanish
INSTRUCTIONS: list[dict[str, object]] = [
    dict(
        topic="photosynthesis",
        prompt="How does photosynthesis work?",
        points=[
            "Plants capture light with chlorophyll in their leaves.",
            "They use that energy to turn water and carbon dioxide into sugar.",
            "Oxygen is released as a by-product.",
        ],
        summary="Photosynthesis is how plants use light to make sugar from water and carbon dioxide, releasing oxygen.",
        analogy="Imagine a leaf as a tiny solar-powered kitchen that bakes sugar from air and water.",
        expert="The light reactions in the thylakoid membranes produce ATP and NADPH, which the Calvin cycle uses to "
               "fix CO2 via RuBisCO.",
        example="a sunflower turning its leaves toward the sun to catch more light.",
        fr="La photosynthèse permet aux plantes de fabriquer du sucre à partir de lumière, d'eau et de dioxyde de "
           "carbone.",
        es="La fotosíntesis permite a las plantas fabricar azúcar a partir de luz, agua y dióxido de carbono.",
    ),
    dict(
        topic="saving money",
        prompt="How can I start saving money each month?",
        points=[
            "Pay yourself first by moving savings on payday.",
            "Track spending for one month to find leaks.",
            "Cut or pause subscriptions you rarely use.",
        ],
        summary="Save automatically on payday and trim the spending you discover by tracking a month of purchases.",
        analogy="Imagine your income as water in a bucket with small holes that you patch one by one.",
        expert="Automating a fixed transfer exploits present bias: money that never reaches the current account is "
               "rarely missed.",
        example="setting a standing order of 50 pounds to a savings account the day your salary arrives.",
        fr="Épargnez automatiquement le jour de la paie et réduisez les dépenses repérées en suivant un mois d'achats.",
        es="Ahorra automáticamente el día de cobro y recorta los gastos que descubras al registrar un mes de compras.",
    ),
    dict(
        topic="sleep",
        prompt="What are good habits for better sleep?",
        points=[
            "Go to bed and wake up at the same time every day.",
            "Keep the bedroom dark and cool.",
            "Avoid caffeine after early afternoon.",
        ],
        summary="A steady schedule and a dark and cool room without late caffeine give the best sleep.",
        analogy="Imagine your body clock as a train that runs best when it leaves the station at the same time daily.",
        expert="Consistent timing stabilises the circadian rhythm and caffeine's five-hour half-life blocks adenosine "
               "well into the evening.",
        example="setting a 10:30 pm bedtime and a 6:30 am alarm even at weekends.",
        fr="Un horaire régulier et une chambre sombre et fraîche sans caféine tardive favorisent le meilleur sommeil.",
        es="Un horario fijo y un dormitorio oscuro y fresco sin cafeína por la tarde dan el mejor descanso.",
    ),
    dict(
        topic="recursion",
        prompt="What is recursion in programming?",
        points=[
            "A recursive function calls itself on a smaller version of the problem.",
            "It needs a base case that stops the calls.",
            "Each call waits on the stack until the smaller one returns.",
        ],
        summary="Recursion is a function solving a problem by calling itself on smaller inputs until a base case stops "
                "it.",
        analogy="Imagine a set of Russian dolls where you open each one until you reach the smallest doll.",
        expert="Each activation record occupies stack space so depth is bounded unless the language performs tail-call "
               "elimination.",
        example="computing a factorial as n times the factorial of n minus one.",
        fr="La récursivité est une fonction qui s'appelle elle-même sur des entrées plus petites jusqu'à un cas de "
           "base.",
        es="La recursividad es una función que se llama a sí misma con entradas más pequeñas hasta un caso base.",
    ),
    dict(
        topic="climate change",
        prompt="Why is the climate getting warmer?",
        points=[
            "Burning fossil fuels adds carbon dioxide to the air.",
            "These gases trap heat that would escape to space.",
            "Deforestation removes trees that absorb carbon.",
        ],
        summary="The climate is warming because greenhouse gases from fossil fuels and deforestation trap extra heat.",
        analogy="Imagine the atmosphere as a blanket that keeps getting thicker every year.",
        expert="Increased CO2 raises radiative forcing by about 2 watts per square metre relative to pre-industrial "
               "levels.",
        example="the rise in global average temperature of about 1.2 degrees since the late 1800s.",
        fr="Le climat se réchauffe parce que les gaz à effet de serre issus des combustibles fossiles retiennent la "
           "chaleur.",
        es="El clima se calienta porque los gases de efecto invernadero de los combustibles fósiles atrapan el calor.",
    ),
    dict(
        topic="job interviews",
        prompt="How should I prepare for a job interview?",
        points=[
            "Research the company and the role.",
            "Prepare short stories that show your skills.",
            "Practise answers out loud and prepare questions to ask.",
        ],
        summary="Research the role and practise a few concrete stories out loud before the interview.",
        analogy="Imagine the interview as a play where you have rehearsed your best scenes.",
        expert="Structured interviews reward answers in the situation-task-action-result format with measurable "
               "outcomes.",
        example="describing how you cut a report's turnaround time from five days to two.",
        fr="Renseignez-vous sur le poste et entraînez-vous à voix haute avec quelques exemples concrets.",
        es="Investiga el puesto y practica en voz alta algunas historias concretas antes de la entrevista.",
    ),
    dict(
        topic="vaccines",
        prompt="How do vaccines protect us?",
        points=[
            "A vaccine shows the immune system a harmless piece or copy of a germ.",
            "The body makes antibodies and memory cells.",
            "If the real germ arrives the body responds faster.",
        ],
        summary="Vaccines train the immune system with a harmless version of a germ so it reacts quickly to the real "
                "one.",
        analogy="Imagine a fire drill that teaches everyone the exits before a real fire.",
        expert="Antigen exposure drives clonal expansion of B and T cells and leaves long-lived memory populations.",
        example="the measles vaccine giving lifelong protection to most people after two doses.",
        fr="Les vaccins entraînent le système immunitaire avec une version inoffensive d'un microbe.",
        es="Las vacunas entrenan al sistema inmunitario con una versión inofensiva de un germen.",
    ),
    dict(
        topic="compound interest",
        prompt="What is compound interest?",
        points=[
            "Interest is paid on your original money.",
            "It is also paid on the interest already earned.",
            "Over many years growth speeds up.",
        ],
        summary="Compound interest is interest earned on both your money and the interest it has already earned.",
        analogy="Imagine a snowball rolling downhill and picking up more snow the bigger it gets.",
        expert="The balance follows P times (1 + r/n) to the power nt so the effective annual rate exceeds the nominal "
               "rate.",
        example="1000 pounds at 5 percent a year growing to about 1629 pounds after ten years.",
        fr="Les intérêts composés sont des intérêts gagnés sur votre argent et sur les intérêts déjà acquis.",
        es="El interés compuesto es el interés que se gana sobre tu dinero y sobre los intereses ya obtenidos.",
    ),
    dict(
        topic="learning guitar",
        prompt="How do I start learning guitar?",
        points=[
            "Learn a few open chords such as G and C and D.",
            "Practise switching between them for ten minutes a day.",
            "Play simple songs that use those chords.",
        ],
        summary="Learn three open chords and practise switching between them daily with simple songs.",
        analogy="Imagine chords as words and songs as sentences you build from them.",
        expert="Efficient chord transitions rely on anchor fingers and minimal movement between shapes.",
        example="playing a folk song that only uses G and C and D.",
        fr="Apprenez trois accords ouverts et entraînez-vous chaque jour à passer de l'un à l'autre.",
        es="Aprende tres acordes abiertos y practica cada día el cambio entre ellos con canciones sencillas.",
    ),
    dict(
        topic="black holes",
        prompt="What is a black hole?",
        points=[
            "A black hole is a region where gravity is so strong that light cannot escape.",
            "Many form when very massive stars collapse.",
            "Its boundary is called the event horizon.",
        ],
        summary="A black hole is a region of space whose gravity is so strong that not even light can escape.",
        analogy="Imagine a drain in a bathtub so strong that nothing near it can swim away.",
        expert="The Schwarzschild radius is 2GM over c squared and scales linearly with mass.",
        example="Sagittarius A star at the centre of our galaxy with about four million solar masses.",
        fr="Un trou noir est une région de l'espace dont la gravité est si forte que même la lumière ne peut "
           "s'échapper.",
        es="Un agujero negro es una región del espacio cuya gravedad es tan fuerte que ni la luz puede escapar.",
    ),
    dict(
        topic="composting",
        prompt="How do I start composting at home?",
        points=[
            "Mix green waste such as peelings with brown waste such as cardboard.",
            "Keep the heap moist like a wrung-out sponge.",
            "Turn it every few weeks to add air.",
        ],
        summary="Compost by mixing greens and browns and keeping the heap damp and airy.",
        analogy="Imagine feeding a pet that eats peelings and cardboard and gives back soil.",
        expert="Aerobic decomposition works best at a carbon to nitrogen ratio near 30 to 1.",
        example="layering coffee grounds with shredded egg boxes in a garden bin.",
        fr="Compostez en mélangeant déchets verts et bruns et en gardant le tas humide et aéré.",
        es="Haz compost mezclando restos verdes y marrones y manteniendo la pila húmeda y aireada.",
    ),
    dict(
        topic="public speaking",
        prompt="How can I become a better public speaker?",
        points=[
            "Know your opening lines by heart.",
            "Slow down and pause after key points.",
            "Record yourself and watch it back.",
        ],
        summary="Memorise your opening and slow down with pauses and review recordings of yourself.",
        analogy="Imagine talking to one friend across a table rather than to a crowd.",
        expert="Deliberate pauses reduce filler words and give listeners time to encode key messages.",
        example="pausing for two seconds after stating the main result of a project.",
        fr="Mémorisez votre introduction et parlez lentement avec des pauses puis revoyez vos enregistrements.",
        es="Memoriza tu introducción y habla despacio con pausas y revisa grabaciones de ti mismo.",
    ),
    dict(
        topic="inflation",
        prompt="What causes inflation?",
        points=[
            "Demand can grow faster than what the economy produces.",
            "Rising costs such as energy push prices up.",
            "Expectations of higher prices can feed themselves.",
        ],
        summary="Inflation comes from demand outrunning supply and rising costs and expectations of higher prices.",
        analogy="Imagine too many shoppers chasing too few loaves of bread.",
        expert="Central banks target expectations because wage and price setting respond to anticipated inflation.",
        example="energy prices in 2022 pushing up the cost of almost every product.",
        fr="L'inflation vient d'une demande supérieure à l'offre et de la hausse des coûts et des anticipations.",
        es="La inflación surge cuando la demanda supera a la oferta y suben los costes y las expectativas.",
    ),
    dict(
        topic="houseplants",
        prompt="How often should I water my houseplants?",
        points=[
            "Check the soil with your finger before watering.",
            "Water when the top few centimetres are dry.",
            "Most plants need less water in winter.",
        ],
        summary="Water when the top of the soil is dry rather than on a fixed schedule.",
        analogy="Imagine the pot as a glass you only refill when it is nearly empty.",
        expert="Overwatering starves roots of oxygen and encourages root rot fungi such as Pythium.",
        example="a snake plant that needs water only every three weeks in winter.",
        fr="Arrosez quand le dessus du terreau est sec plutôt que selon un calendrier fixe.",
        es="Riega cuando la parte superior de la tierra esté seca y no según un calendario fijo.",
    ),
    dict(
        topic="the internet",
        prompt="How does the internet work?",
        points=[
            "Data is split into small packets.",
            "Routers pass the packets across many networks.",
            "The receiving computer puts the packets back together.",
        ],
        summary="The internet moves data as small packets that routers pass between networks and reassemble at the "
                "end.",
        analogy="Imagine sending a book as numbered postcards that travel by different roads.",
        expert="TCP provides ordered reliable delivery over IP while BGP decides routes between autonomous systems.",
        example="a video call sending thousands of packets every second.",
        fr="Internet transporte les données en petits paquets que les routeurs font circuler entre les réseaux.",
        es="Internet mueve los datos en pequeños paquetes que los routers pasan entre redes.",
    ),
    dict(
        topic="running",
        prompt="How do I start running as a beginner?",
        points=[
            "Alternate one minute of running with two minutes of walking.",
            "Run three times a week with rest days between.",
            "Increase total time by about ten percent each week.",
        ],
        summary="Start with run-walk intervals three times a week and build up slowly.",
        analogy="Imagine building a wall one row of bricks at a time.",
        expert="Gradual load increases let tendons adapt more slowly than the cardiovascular system without overuse "
               "injury.",
        example="a couch-to-5K plan that reaches thirty minutes of running in nine weeks.",
        fr="Commencez par alterner course et marche trois fois par semaine et progressez lentement.",
        es="Empieza alternando carrera y caminata tres veces por semana y avanza poco a poco.",
    ),
    dict(
        topic="passwords",
        prompt="How do I create strong passwords?",
        points=[
            "Use a long passphrase of several random words.",
            "Use a different password for every site.",
            "Store them in a password manager and turn on two-factor login.",
        ],
        summary="Use long unique passphrases kept in a password manager with two-factor login.",
        analogy="Imagine a different key for every door so one lost key opens nothing else.",
        expert="Entropy grows with length so four random words from a large list beat eight mixed characters.",
        example="a passphrase like four unrelated words joined by dashes.",
        fr="Utilisez des phrases de passe longues et uniques dans un gestionnaire de mots de passe.",
        es="Usa frases de contraseña largas y únicas guardadas en un gestor de contraseñas.",
    ),
    dict(
        topic="bread baking",
        prompt="Why didn't my bread rise?",
        points=[
            "The yeast may have been old or killed by hot water.",
            "The dough may not have proved long enough.",
            "A cold kitchen slows rising a lot.",
        ],
        summary="Bread usually fails to rise because of dead yeast or too short a proof or a cold kitchen.",
        analogy="Imagine yeast as tiny balloons that only inflate when warm and fed.",
        expert="Yeast activity peaks near 27 degrees and water above about 55 degrees kills the cells.",
        example="dough left in a cold room that needs three hours instead of one.",
        fr="Le pain ne lève pas souvent à cause d'une levure morte ou d'une pousse trop courte ou d'une cuisine "
           "froide.",
        es="El pan no sube por levadura muerta o un levado demasiado corto o una cocina fría.",
    ),
    dict(
        topic="the moon's phases",
        prompt="Why does the moon have phases?",
        points=[
            "The sun always lights half of the moon.",
            "As the moon orbits Earth we see different parts of the lit half.",
            "A full cycle takes about 29.5 days.",
        ],
        summary="The moon's phases are the changing view of its sunlit half as it orbits Earth.",
        analogy="Imagine walking around a lamp holding a ball and watching its bright side change.",
        expert="The synodic month is longer than the sidereal month because Earth also moves along its orbit.",
        example="a full moon happening when the moon is opposite the sun in the sky.",
        fr="Les phases de la lune sont la vue changeante de sa moitié éclairée pendant son orbite.",
        es="Las fases de la luna son la vista cambiante de su mitad iluminada mientras gira alrededor de la Tierra.",
    ),
    dict(
        topic="stress",
        prompt="How can I manage stress at work?",
        points=[
            "Write down your tasks and pick the top three.",
            "Take short breaks away from the screen.",
            "Talk to your manager early about workload.",
        ],
        summary="Prioritise a few tasks and take real breaks and raise workload problems early.",
        analogy="Imagine stress as a backpack that you lighten by taking out what you do not need today.",
        expert="Perceived control is a strong buffer against occupational stress in the demand-control model.",
        example="a ten-minute walk after a long meeting.",
        fr="Priorisez quelques tâches et faites de vraies pauses et signalez tôt les problèmes de charge.",
        es="Prioriza unas pocas tareas y haz pausas reales y comenta pronto los problemas de carga.",
    ),
    dict(
        topic="electric cars",
        prompt="Are electric cars better for the environment?",
        points=[
            "They produce no exhaust while driving.",
            "Making the battery creates extra emissions at first.",
            "Over their life they usually emit less especially on clean electricity.",
        ],
        summary="Electric cars usually emit less over their lifetime though battery production adds emissions up "
                "front.",
        analogy="Imagine paying a larger deposit that you earn back with every kilometre driven.",
        expert="Life-cycle analyses find the battery carbon debt is repaid within one to two years of typical driving.",
        example="a car charged on a mostly renewable grid emitting far less than a petrol car.",
        fr="Les voitures électriques émettent généralement moins sur leur vie malgré la fabrication de la batterie.",
        es="Los coches eléctricos suelen emitir menos en su vida útil aunque la batería añade emisiones al inicio.",
    ),
    dict(
        topic="meditation",
        prompt="How do I start meditating?",
        points=[
            "Sit comfortably for five minutes.",
            "Focus on the feeling of your breath.",
            "When your mind wanders gently bring it back.",
        ],
        summary="Sit for five minutes and keep returning your attention to your breath.",
        analogy="Imagine training a puppy to come back each time it wanders off.",
        expert="Focused-attention practice trains the ability to notice mind-wandering and redirect attention.",
        example="a daily five-minute session right after brushing your teeth.",
        fr="Asseyez-vous cinq minutes et ramenez sans cesse votre attention sur votre respiration.",
        es="Siéntate cinco minutos y vuelve a llevar la atención a tu respiración.",
    ),
    dict(
        topic="spreadsheets",
        prompt="How do I add up a column in a spreadsheet?",
        points=[
            "Click the cell below the column.",
            "Type the SUM formula with the range of cells.",
            "Press Enter to see the total.",
        ],
        summary="Use the SUM formula on the column's range in the cell below it.",
        analogy="Imagine asking a calculator to add every number in a list at once.",
        expert="SUM ignores text cells and structured references keep totals correct when rows are added.",
        example="typing =SUM(B2:B20) to total twenty rows.",
        fr="Utilisez la formule SOMME sur la plage de la colonne dans la cellule du dessous.",
        es="Usa la fórmula SUMA sobre el rango de la columna en la celda de abajo.",
    ),
    dict(
        topic="bees",
        prompt="Why are bees important?",
        points=[
            "Bees pollinate many crops and wild plants.",
            "About a third of the food we eat depends on pollinators.",
            "They also support other wildlife that relies on plants.",
        ],
        summary="Bees matter because their pollination supports much of our food and many ecosystems.",
        analogy="Imagine bees as delivery workers carrying pollen from flower to flower.",
        expert="Pollinator-dependent crops account for a large share of global crop production value.",
        example="apple orchards whose yield falls sharply without bee visits.",
        fr="Les abeilles sont importantes car leur pollinisation soutient une grande partie de notre alimentation.",
        es="Las abejas son importantes porque su polinización sostiene gran parte de nuestros alimentos.",
    ),
    dict(
        topic="email etiquette",
        prompt="How do I write a professional email?",
        points=[
            "Write a clear subject line.",
            "State your request in the first two sentences.",
            "Close politely and sign with your full name.",
        ],
        summary="Use a clear subject and put the request up front and close politely.",
        analogy="Imagine the reader only has ten seconds to understand what you want.",
        expert="Front-loading the ask follows the inverted-pyramid structure used in business writing.",
        example="a subject line like Request for meeting on Thursday.",
        fr="Utilisez un objet clair et placez la demande au début puis concluez poliment.",
        es="Usa un asunto claro y pon la petición al principio y despídete con cortesía.",
    ),
    dict(
        topic="rainbows",
        prompt="How do rainbows form?",
        points=[
            "Sunlight enters raindrops and bends.",
            "Each colour bends by a slightly different amount.",
            "The light reflects inside the drop and comes back out as a band of colours.",
        ],
        summary="Rainbows form when raindrops bend and reflect sunlight and split it into colours.",
        analogy="Imagine each raindrop as a tiny prism.",
        expert="Dispersion in water gives the primary bow at about 42 degrees from the antisolar point.",
        example="a rainbow appearing opposite the sun after an afternoon shower.",
        fr="Les arcs-en-ciel se forment quand les gouttes de pluie dévient la lumière et la séparent en couleurs.",
        es="Los arcoíris se forman cuando las gotas de lluvia desvían la luz del sol y la separan en colores.",
    ),
]

PERSONA_OPENERS = [
    "You are a helpful assistant answering a question about {topic}.",
    "You are a patient tutor for someone curious about {topic}.",
    "You are an assistant for a busy reader asking about {topic}.",
    "You are a knowledgeable guide on {topic}.",
    "You are an assistant who writes answers about {topic} for a general audience.",
    "Act as a friendly explainer of {topic}.",
]

# Soft preferences that fill the dimensions a profile does not fix (no machine-checkable constraint).
SOFT_PREFERENCES = {
    "background_knowledge": [
        (
            "basic", "some general knowledge", "Knows the basics; no need to define everyday words.",
            "The reader has general knowledge.",
        ),
        (
            "intermediate", "familiar with the topic", "Has met the topic before and wants more than an introduction.",
            "The reader has met the topic before.",
        ),
    ],
    "informativeness": [
        (
            "relevance", "stay on topic", "Wants only information that answers the question.",
            "Keep every sentence relevant to the question.",
        ),
        ("practicality", "actionable advice", "Wants points the reader can act on.", "Prefer practical points."),
        ("efficiency", "no padding", "Prefers answers without filler.", "Do not pad the answer."),
    ],
    "harmlessness": [
        ("accuracy", "precise claims", "Avoids overstated claims.", "Do not overstate claims."),
        (
            "sensitivity", "respectful tone", "Keeps a respectful, non-judgemental tone.",
            "Stay respectful and non-judgemental.",
        ),
        ("trustworthiness", "honest about limits", "Says when something is uncertain.", "Be honest about uncertainty."),
        ("safety", "safety-aware", "Mentions relevant risks briefly.", "Mention risks where relevant."),
    ],
    "style": [
        ("clarity", "plain wording", "Prefers short, clear sentences.", "Use short, clear sentences."),
    ],
}

/**
 * The single source of truth for everything a visitor reads: `WebinarConfig`.
 *
 * The default instance lives in `src/content/webinar.json`; marketers publish new versions
 * to KV through the admin. Both paths are validated with this schema, so a page is never
 * rendered from content that does not pass it. Messages are German because marketers see
 * them in the editor.
 */
import * as v from 'valibot';

const text = (max: number, what: string) =>
  v.pipe(
    v.string(`${what} muss ein Text sein.`),
    v.trim(),
    v.nonEmpty(`${what} darf nicht leer sein.`),
    v.maxLength(max, `${what} darf höchstens ${max} Zeichen lang sein.`),
  );

const optionalText = (max: number, what: string) =>
  v.optional(
    v.pipe(
      v.string(`${what} muss ein Text sein.`),
      v.trim(),
      v.maxLength(max, `${what} darf höchstens ${max} Zeichen lang sein.`),
    ),
  );

/** ISO 8601 date-time with an explicit offset, e.g. `2027-03-18T19:00:00+01:00`. */
const isoWithOffset = (what: string) =>
  v.pipe(
    v.string(`${what} muss ein Datum sein.`),
    v.regex(
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
      `${what} braucht das Format JJJJ-MM-TTTHH:MM mit Zeitzone, z. B. 2027-03-18T19:00:00+01:00.`,
    ),
    v.check((s) => !Number.isNaN(Date.parse(s)), `${what} ist kein gültiges Datum.`),
  );

const httpsUrl = (what: string) =>
  v.pipe(
    v.string(`${what} muss eine Adresse sein.`),
    v.trim(),
    v.url(`${what} ist keine gültige Adresse.`),
    // The URL parser quietly drops CR/LF and tolerates spaces, but the address also lands
    // in mails and the .ics file, where a line break would start a field of its own.
    v.regex(/^[^\s\u0000-\u001f\u007f]+$/, `${what} darf keine Leerzeichen oder Zeilenumbrüche enthalten.`),
    v.startsWith('https://', `${what} muss mit https:// beginnen.`),
    v.maxLength(500, `${what} darf höchstens 500 Zeichen lang sein.`),
  );

const paragraphs = (what: string) =>
  v.pipe(
    v.array(text(2000, `Ein Absatz in ${what}`), `${what} muss eine Liste von Absätzen sein.`),
    v.minLength(1, `${what} braucht mindestens einen Absatz.`),
    v.maxLength(60, `${what} darf höchstens 60 Absätze haben.`),
  );

/** A photo uploaded in the admin, stored in KV by content hash. */
export const SpeakerPhoto = v.object({
  /** sha256 (hex) of the 480 px WebP; `media:<hash>` in KV. */
  hash: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'Das Foto hat keine gültige Kennung.')),
  /** sha256 of the 160 px WebP used on phones. */
  smallHash: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'Das Foto hat keine gültige Kennung.')),
});

export const Speaker = v.object({
  id: v.pipe(
    v.string(),
    v.regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'Die Kennung darf nur a–z, 0–9 und Bindestriche enthalten.'),
    v.maxLength(60, 'Die Kennung darf höchstens 60 Zeichen lang sein.'),
  ),
  name: text(80, 'Der Name'),
  role: text(120, 'Die Rolle'),
  bio: text(300, 'Die Kurzbiografie'),
  photo: v.optional(SpeakerPhoto),
});

const sha256Hex = (what: string) =>
  v.pipe(
    v.string(`${what} hat keine gültige Kennung.`),
    v.regex(/^[0-9a-f]{64}$/, `${what} hat keine gültige Kennung.`),
  );

const wholeNumber = (what: string, min: number, max: number) =>
  v.pipe(
    v.number(`${what} muss eine Zahl sein.`),
    v.integer(`${what} muss eine ganze Zahl sein.`),
    v.minValue(min, `${what} muss mindestens ${min} betragen.`),
    v.maxValue(max, `${what} darf höchstens ${max} betragen.`),
  );

/** The host's logo, uploaded in the admin: a WebP stored by content hash, drawn at half its size. */
export const Logo = v.object({
  hash: sha256Hex('Das Logo'),
  /** Pixel size of the stored image (twice the size it is shown at, for sharp screens). */
  width: wholeNumber('Die Breite des Logos', 16, 960),
  height: wholeNumber('Die Höhe des Logos', 16, 240),
});

/** One line of the agenda: a Berlin wall-clock time and what happens then. */
export const AgendaItem = v.object({
  time: v.pipe(
    v.string('Die Uhrzeit muss ein Text sein.'),
    v.trim(),
    v.regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'Die Uhrzeit braucht das Format HH:MM, z. B. 19:30.'),
  ),
  title: text(120, 'Der Programmpunkt'),
  description: optionalText(300, 'Die Beschreibung des Programmpunkts'),
});

export const FaqItem = v.object({
  question: text(200, 'Die Frage'),
  answer: text(1500, 'Die Antwort'),
});

/** A section with a heading and a list; an empty list hides the section. */
const listSection = <T extends v.GenericSchema>(
  item: T,
  what: { heading: string; list: string; max: number; defaultHeading: string },
) =>
  v.optional(
    v.object({
      heading: text(80, what.heading),
      items: v.pipe(
        v.array(item, `${what.list} müssen eine Liste sein.`),
        v.maxLength(what.max, `Es sind höchstens ${what.max} ${what.list} möglich.`),
      ),
    }),
    // Configs published before the section existed: no items, so no section.
    { heading: what.defaultHeading, items: [] },
  );

export const Topic = v.object({
  title: text(80, 'Der Titel des Themas'),
  description: text(400, 'Die Beschreibung des Themas'),
});

export const WebinarConfig = v.object({
  /** Lets editors find the JSON Schema; ignored otherwise. */
  $schema: v.optional(v.string()),
  webinar: v.object({
    eyebrow: text(60, 'Die Dachzeile'),
    title: text(120, 'Der Titel'),
    subtitle: text(200, 'Der Untertitel'),
    start: isoWithOffset('Der Beginn'),
    durationMinutes: v.pipe(
      v.number('Die Dauer muss eine Zahl sein.'),
      v.integer('Die Dauer muss eine ganze Zahl von Minuten sein.'),
      v.minValue(15, 'Die Dauer muss mindestens 15 Minuten betragen.'),
      v.maxValue(600, 'Die Dauer darf höchstens 600 Minuten betragen.'),
    ),
    timeZone: v.literal('Europe/Berlin', 'Die Zeitzone muss Europe/Berlin sein.'),
    /** Sent by mail only; never rendered into the public page. */
    joinUrl: httpsUrl('Der Teilnahme-Link'),
    replayUrl: v.optional(httpsUrl('Der Aufzeichnungs-Link')),
  }),
  cta: text(60, 'Der Text des Anmeldeknopfs'),
  reassurance: text(120, 'Die Zusicherung'),
  topicsHeading: text(80, 'Die Überschrift der Themen'),
  topics: v.pipe(
    v.array(Topic, 'Die Themen müssen eine Liste sein.'),
    v.minLength(1, 'Es braucht mindestens ein Thema.'),
    v.maxLength(6, 'Es sind höchstens sechs Themen möglich.'),
  ),
  speakersHeading: text(80, 'Die Überschrift der Referenten'),
  speakers: v.pipe(
    v.array(Speaker, 'Die Referenten müssen eine Liste sein.'),
    v.minLength(1, 'Es braucht mindestens einen Referenten.'),
    v.maxLength(12, 'Es sind höchstens zwölf Referenten möglich.'),
    v.check(
      (list) => new Set(list.map((s) => s.id)).size === list.length,
      'Jeder Referent braucht eine eigene Kennung.',
    ),
  ),
  agenda: listSection(AgendaItem, {
    heading: 'Die Überschrift des Ablaufs',
    list: 'Programmpunkte',
    max: 20,
    defaultHeading: 'Ablauf',
  }),
  faq: listSection(FaqItem, {
    heading: 'Die Überschrift der häufigen Fragen',
    list: 'Fragen',
    max: 20,
    defaultHeading: 'Häufige Fragen',
  }),
  /** Shown in a bar above the hero; without it the page has none. */
  logo: v.optional(Logo),
  /** "Bereits N Anmeldungen", from the real count of confirmed registrations. */
  registrationCount: v.optional(
    v.object({
      show: v.boolean('Bitte wählen Sie, ob die Zahl der Anmeldungen gezeigt wird.'),
      /** Below this count the line stays hidden: a small number persuades nobody. */
      minimum: wholeNumber('Die Mindestzahl', 0, 1_000_000),
    }),
    { show: false, minimum: 100 },
  ),
  giveaway: v.object({
    headline: text(80, 'Die Überschrift des Gewinnspiels'),
    prize: text(300, 'Die Beschreibung des Preises'),
    deadline: isoWithOffset('Der Teilnahmeschluss'),
    terms: paragraphs('den Teilnahmebedingungen'),
  }),
  form: v.object({
    heading: text(80, 'Die Überschrift des Formulars'),
    privacyLabel: text(300, 'Der Text der Datenschutz-Einwilligung'),
    giveawayLabel: text(300, 'Der Text der Gewinnspiel-Teilnahme'),
    newsletterLabel: text(300, 'Der Text der Newsletter-Einwilligung'),
    /** Stored with every consent; bump it whenever one of the three labels changes. */
    consentVersion: v.pipe(
      v.string(),
      v.regex(
        /^[\w.-]{1,40}$/,
        'Die Version der Einwilligungstexte darf nur Buchstaben, Ziffern, Punkt und Bindestrich enthalten.',
      ),
    ),
    thankYouHeading: text(80, 'Die Überschrift der Bestätigung'),
    thankYouText: text(400, 'Der Text der Bestätigung'),
    replayHeading: text(80, 'Die Überschrift der Aufzeichnungs-Anmeldung'),
  }),
  legal: v.object({
    company: text(120, 'Der Firmenname'),
    representative: text(120, 'Der Vertretungsberechtigte'),
    street: text(120, 'Die Straße'),
    postalCode: text(10, 'Die Postleitzahl'),
    city: text(80, 'Der Ort'),
    country: text(60, 'Das Land'),
    email: v.pipe(v.string(), v.trim(), v.email('Die Kontaktadresse ist keine gültige E-Mail-Adresse.')),
    phone: optionalText(40, 'Die Telefonnummer'),
    register: optionalText(120, 'Der Registereintrag'),
    vatId: optionalText(40, 'Die USt-IdNr.'),
    privacy: paragraphs('den Datenschutzhinweisen'),
  }),
  seo: v.object({
    title: text(70, 'Der SEO-Titel'),
    description: text(170, 'Die SEO-Beschreibung'),
    siteUrl: httpsUrl('Die Adresse der Seite'),
    /** sha256 of the 1200×630 PNG share image the editor renders on publish (`/media/<hash>`). */
    shareImage: v.optional(sha256Hex('Das Vorschaubild')),
  }),
});

export type WebinarConfig = v.InferOutput<typeof WebinarConfig>;
export type Speaker = v.InferOutput<typeof Speaker>;
export type Topic = v.InferOutput<typeof Topic>;
export type AgendaItem = v.InferOutput<typeof AgendaItem>;
export type FaqItem = v.InferOutput<typeof FaqItem>;
export type Logo = v.InferOutput<typeof Logo>;

/** One readable line per problem: `speakers.2.name: Der Name darf nicht leer sein.` */
export function describeConfigIssues(issues: v.BaseIssue<unknown>[]): string[] {
  return issues.map((issue) => `${v.getDotPath(issue) ?? '(Wurzel)'}: ${issue.message}`);
}

export function parseWebinarConfig(input: unknown) {
  return v.safeParse(WebinarConfig, input);
}

package alert

import "html"

// slackMessage is the body of a Slack incoming webhook or chat.postMessage call; Discord's
// Slack-compatible endpoint and Rocket.Chat's incoming webhooks read the same shape.
type slackMessage struct {
	Channel     string            `json:"channel"`
	Username    string            `json:"username"`
	IconURL     string            `json:"icon_url"`
	IconEmoji   string            `json:"icon_emoji"`
	Attachments []slackAttachment `json:"attachments"`
}

// slackAttachment is the coloured block holding the alert's text and fields.
type slackAttachment struct {
	Color      string       `json:"color"`
	AuthorName string       `json:"author_name"`
	Text       string       `json:"text"`
	MrkdwnIn   []string     `json:"mrkdwn_in"`
	Fields     []slackField `json:"fields"`
}

// slackField is one title/value line of an attachment.
type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// slackBody returns the builder of the Slack-shaped body, with the attachment colour of error
// alerts and of the others.
func slackBody(normal, errColor string) builder {
	return func(n *webhook, m Message) any {
		color := normal
		if m.Severity == SeverityError {
			color = errColor
		}
		fields := make([]slackField, 0, len(m.Fields))
		for _, f := range m.Fields {
			fields = append(fields, slackField{Title: f.Name, Value: f.Value})
		}
		return slackMessage{
			Channel:   n.channel,
			Username:  n.username,
			IconEmoji: ":rocket:",
			Attachments: []slackAttachment{{
				Color:      color,
				AuthorName: subject(m),
				Text:       m.Text,
				MrkdwnIn:   []string{"text"},
				Fields:     fields,
			}},
		}
	}
}

// teamsCard is a Microsoft Teams incoming webhook's legacy MessageCard.
type teamsCard struct {
	Type       string         `json:"@type"`
	Context    string         `json:"@context"`
	ThemeColor string         `json:"themeColor"`
	Summary    string         `json:"summary"`
	Sections   []teamsSection `json:"sections"`
}

// teamsSection holds the alert's text, subject and facts.
type teamsSection struct {
	ActivityTitle    string      `json:"activityTitle"`
	ActivitySubtitle string      `json:"activitySubtitle"`
	Facts            []teamsFact `json:"facts"`
}

// teamsFact is one name/value line of a section.
type teamsFact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// teamsBody builds the MessageCard: blue theme, red for error alerts.
func teamsBody(_ *webhook, m Message) any {
	facts := make([]teamsFact, 0, len(m.Fields))
	for _, f := range m.Fields {
		facts = append(facts, teamsFact(f))
	}
	color := "0076D7"
	if m.Severity == SeverityError {
		color = "FF0000"
	}
	return teamsCard{
		Type:       "MessageCard",
		Context:    "http://schema.org/extensions",
		ThemeColor: color,
		Summary:    subject(m),
		Sections: []teamsSection{{
			ActivityTitle:    m.Text,
			ActivitySubtitle: subject(m),
			Facts:            facts,
		}},
	}
}

// gchatMessage is a Google Chat incoming webhook's message with a (v1) card.
type gchatMessage struct {
	Cards []gchatCard `json:"cards"`
}

// gchatCard is a card: a header, then one section for the text and one per field.
type gchatCard struct {
	Header   gchatHeader    `json:"header"`
	Sections []gchatSection `json:"sections"`
}

// gchatHeader is the card's title line.
type gchatHeader struct {
	Title    string `json:"title"`
	Subtitle string `json:"subtitle"`
	ImageURL string `json:"imageUrl"`
}

// gchatSection is a list of widgets.
type gchatSection struct {
	Widgets []gchatWidget `json:"widgets"`
}

// gchatWidget holds one paragraph.
type gchatWidget struct {
	TextParagraph gchatText `json:"textParagraph"`
}

// gchatText is a paragraph in Google Chat's small HTML subset.
type gchatText struct {
	Text string `json:"text"`
}

// gchatBody builds the card Flagger posts. Text and fields are HTML-escaped, since Google Chat
// reads the paragraph as HTML.
func gchatBody(_ *webhook, m Message) any {
	paragraph := func(s string) gchatSection {
		return gchatSection{Widgets: []gchatWidget{{TextParagraph: gchatText{Text: s}}}}
	}
	sections := make([]gchatSection, 0, 1+len(m.Fields))
	sections = append(sections, paragraph(grey(m.Text)))
	for _, f := range m.Fields {
		sections = append(sections, paragraph(html.EscapeString(f.Name)+"<br>"+grey(f.Value)))
	}
	return gchatMessage{Cards: []gchatCard{{
		Header: gchatHeader{
			Title:    "Flagger",
			Subtitle: subject(m),
			ImageURL: "https://flagger.app/favicon.png",
		},
		Sections: sections,
	}}}
}

// grey is s escaped, in bold grey.
func grey(s string) string {
	return "<font color=#848484><strong>" + html.EscapeString(s) + "</strong></font>"
}

// subject is how every type names the Canary: <name>.<namespace>.
func subject(m Message) string {
	return m.Canary + "." + m.Namespace
}

"""The LLM bot's system prompt and its FAQ switch, edited in admin (one row)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('handoff', '0005_inbox_queue_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='BotSettings',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('system_prompt', models.TextField(default='You are the first-line support assistant of our company on WhatsApp.\n\n- Answer in the language the customer writes in.\n- Be brief and friendly: a few short sentences, plain text, no Markdown.\n- Answer only from the knowledge below and from the conversation. Never invent prices, dates, order details, policies or promises.\n- Call the handoff_to_agent tool, with a short reason for the agent, when the customer asks for a person, when you are not sure of the answer, when the customer is upset, or when the request needs someone to look at their account or order. Do not tell the customer you are calling it; they will be told a person is coming.\n', help_text='The instructions the language model gets before every conversation. Keep the rule about the handoff_to_agent tool: it is how the model hands a customer to a person.', verbose_name='system prompt')),
                ('use_faq_as_knowledge', models.BooleanField(default=True, help_text='Add the active FAQ entries (questions and answers) to the system prompt, so the model answers from them.', verbose_name='use FAQ entries as knowledge')),
            ],
            options={
                'verbose_name': 'LLM bot settings',
                'verbose_name_plural': 'LLM bot settings',
            },
        ),
    ]

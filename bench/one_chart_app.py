"""The baseline page of bench/dashboard.py's fresh-tab figure: the smallest Streamlit
page with one Plotly chart (one line of 1,000 points), served by `streamlit run`
with the flags `trackboard ui` uses."""

import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="one chart", layout="wide")
st.title("One chart")
st.plotly_chart(go.Figure(go.Scatter(x=list(range(1000)), y=[(i % 97) / 97 for i in range(1000)],
                                     mode="lines")), key="one")
